// AVX-512 versions of the simd.h primitives. exp: Cephes expf range reduction (x = n ln2 + r, |r| <= ln2/2,
// degree-6 polynomial, ~1 ulp) with vscalefps for 2^n, which saturates to 0 / inf without bit tricks;
// NaN propagates.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace anvil::ops::simd {

// The maskz_ forms with a full mask avoid GCC 12's false -Wmaybe-uninitialized on _mm512_undefined_ps.
constexpr __mmask16 kAll = 0xffff;

inline __m512 exp512(__m512 x) {
  x = _mm512_maskz_min_ps(kAll, _mm512_set1_ps(88.8f), _mm512_maskz_max_ps(kAll, _mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(kAll, p, n);
}

// Horizontal sum / max through memory (GCC 12's _mm512_reduce_* intrinsics warn -Wmaybe-uninitialized).
inline float hsum(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0.0f;
  for (float x : t) s += x;
  return s;
}

inline float hmax(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float m = t[0];
  for (float x : t) m = x > m ? x : m;
  return m;
}

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

inline float max(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
  }
  return hmax(m);
}

// out[i] = exp(x[i] - shift) (out may be null or alias x); returns the sum of those values.
inline float exp_shift_sum(float* out, const float* x, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s));
    acc = _mm512_mask_add_ps(acc, k, acc, e);
    if (out) _mm512_mask_storeu_ps(out + i, k, e);
  }
  return hsum(acc);
}

// out[i] = a * exp(x[i] - shift) + b (out may alias x).
inline void exp_shift_affine(float* out, const float* x, float shift, float a, float b, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s));
    _mm512_mask_storeu_ps(out + i, k, _mm512_fmadd_ps(va, e, vb));
  }
}

inline void exp_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, k, exp512(_mm512_maskz_loadu_ps(k, x + i)));
  }
}

}  // namespace anvil::ops::simd
