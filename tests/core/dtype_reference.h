// Independent references for the dtype tests: bf16 rounding by "take the nearer of the two bf16
// neighbours, computed in double; ties to the even one", and f16 conversion by the CPU's F16C
// instructions. Shared by dtype_test.cpp and dtype_exhaustive_test.cpp.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace anvil::test {

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round-to-nearest-even f32 -> bf16 without bit tricks. NaN -> 0x7fc0 with the input's sign.
inline uint16_t bf16_reference(uint32_t u) {
  const float f = float_of(u);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7fc0u);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);  // truncation: toward zero
  const uint16_t hi = static_cast<uint16_t>(lo + 1);   // next away from zero (0x7f80 = inf past max)
  const double x = std::fabs(static_cast<double>(f));
  const double lo_v = std::fabs(static_cast<double>(float_of(static_cast<uint32_t>(lo) << 16)));
  if (std::isinf(x)) return lo;
  // The value past hi's magnitude: for hi == inf, use the would-be next power (2^128).
  const double hi_v = (hi & 0x7fffu) == 0x7f80u ? std::ldexp(1.0, 128)
                                                : std::fabs(static_cast<double>(float_of(static_cast<uint32_t>(hi) << 16)));
  const double d_lo = x - lo_v, d_hi = hi_v - x;
  if (d_lo < d_hi) return lo;
  if (d_hi < d_lo) return hi;
  return (lo & 1u) ? hi : lo;
}

#ifdef __F16C__
inline uint16_t f16_hw(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }
#endif

// Equal bit patterns, or both NaN with the same sign (payloads differ by design).
inline bool f16_same(uint16_t a, uint16_t b) {
  const bool a_nan = (a & 0x7c00u) == 0x7c00u && (a & 0x3ffu) != 0;
  const bool b_nan = (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu) != 0;
  if (a_nan || b_nan) return a_nan && b_nan && (a & 0x8000u) == (b & 0x8000u);
  return a == b;
}

inline bool bf16_same(uint16_t a, uint16_t b) {
  const bool a_nan = (a & 0x7f80u) == 0x7f80u && (a & 0x7fu) != 0;
  const bool b_nan = (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0;
  if (a_nan || b_nan) return a_nan && b_nan && (a & 0x8000u) == (b & 0x8000u);
  return a == b;
}

}  // namespace anvil::test
