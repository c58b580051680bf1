// The counter-based hash behind dropout masks, shared by anvil::ops and anvil::ref so both draw the
// same mask: keep element i iff uniform24(splitmix64(seed ^ splitmix64(i))) >= p. The mask depends only
// on (seed, i), never on thread count or scheduling. splitmix64 is Steele, Lea & Flood (2014).
#pragma once

#include <cstdint>

namespace anvil::kernels_detail {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Threshold on the top 24 bits: an element is kept iff its 24-bit draw >= dropout_threshold(p).
inline uint32_t dropout_threshold(float p) {
  const double t = static_cast<double>(p) * 16777216.0;
  return t >= 16777216.0 ? 16777216u : static_cast<uint32_t>(t);
}

inline bool dropout_keep(uint64_t seed, uint64_t i, uint32_t threshold) {
  const uint32_t draw = static_cast<uint32_t>(splitmix64(seed ^ splitmix64(i)) >> 40);
  return draw >= threshold;
}

}  // namespace anvil::kernels_detail
