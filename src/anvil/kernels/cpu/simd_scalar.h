// Portable scalar versions of the simd.h primitives (used when the target has no AVX-512).
#pragma once

#include <cmath>
#include <cstdint>

namespace anvil::ops::simd {

inline float max(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// out[i] = exp(x[i] - shift) (out may be null or alias x); returns the sum of those values.
inline float exp_shift_sum(float* out, const float* x, float shift, int64_t n) {
  double s = 0.0;  // one serial sum over up to ~1e5 terms: keep it in double
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(x[i] - shift);
    if (out) out[i] = e;
    s += e;
  }
  return static_cast<float>(s);
}

// out[i] = a * exp(x[i] - shift) + b (out may alias x).
inline void exp_shift_affine(float* out, const float* x, float shift, float a, float b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a * std::exp(x[i] - shift) + b;
}

inline void exp_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i]);
}

inline void erf_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::erf(x[i]);
}

// x = 1 + erf(x) (= erfc(-x), relatively precise for x < 0).
inline void one_plus_erf_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] <= -0.5f ? std::erfc(-x[i]) : 1.0f + std::erf(x[i]);
}

}  // namespace anvil::ops::simd
