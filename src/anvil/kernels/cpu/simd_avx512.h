// AVX-512 versions of the simd.h primitives. exp: Cephes expf range reduction (x = n ln2 + r, |r| <= ln2/2,
// degree-6 polynomial, ~1 ulp) with vscalefps for 2^n, which saturates to 0 / inf without bit tricks;
// NaN propagates.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
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

// ---- erf, 1 + erf -----------------------------------------------------------------------------------
// erf, our coefficients (minimax fits in double by Lawson's iteratively reweighted least squares):
//   |x| < 1:   erf(x) = x P(x^2), P of degree 6 (relative error 1.2e-9 before fp32 rounding);
//   |x| >= 1:  erfc(|x|) = t exp(-x^2 + Q(t - c)), t = 1/(1 + |x|/2), Q of degree 9 fitted for |x| in
//              [0.5, 10] (error 1.2e-9 in the exponent): the form of Numerical Recipes' erfcc (Press et al.,
//              2nd ed., 6.2), which keeps erfc's relative precision in the tail. x^2 = hi + lo exactly (FMA)
//              and the exponential is exp(-hi) exp(Q - lo), so rounding x^2 costs nothing; 0 past |x| = 10.
// 1 + erf(x) uses erfc(-x) from x <= -0.5 on (where 1 + x P(x^2) would cancel), 2 - erfc(x) from x >= 1.
// Measured error bounds: tests/kernels/simd_test.cpp.
namespace fn_detail {
// erf(x)/x = P(x^2) on [0, 1]; Q(s) for s = t - kErfcTailCenter: lowest degree first.
inline constexpr float kErfSmall[] = {1.12837911f,   -0.37612626f,     0.112836003f,   -0.026854448f,
                                      0.00518954266f, -0.000802091206f, 7.88937032e-05f};
inline constexpr float kErfcTail[] = {-0.694161177f, 1.33866441f,  0.20785518f,    -0.363853037f, -0.18097201f,
                                      0.268977314f,  0.14702405f,  -0.282144934f, -0.0899149328f, 0.256657898f};
inline constexpr float kErfcTailCenter = 0.483333319f;  // the middle of t's range [1/6, 0.8]

template <size_t N>
inline __m512 horner(const float (&c)[N], __m512 x) {
  __m512 r = _mm512_set1_ps(c[N - 1]);
  for (size_t i = N - 1; i-- > 0;) r = _mm512_fmadd_ps(r, x, _mm512_set1_ps(c[i]));
  return r;
}

inline __m512 abs512(__m512 x) {
  return _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

// erfc(a) for a >= 0.5 (finite for any a >= 0; 0 from a = 10, where erfc drops below the smallest float).
inline __m512 erfc_tail512(__m512 a) {
  const __m512 ten = _mm512_set1_ps(10.0f), one = _mm512_set1_ps(1.0f);
  const __m512 ac = _mm512_maskz_min_ps(kAll, a, ten);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(ac, _mm512_set1_ps(0.5f), one));
  const __m512 hi = _mm512_mul_ps(ac, ac), lo = _mm512_fmsub_ps(ac, ac, hi);
  const __m512 q = horner(kErfcTail, _mm512_sub_ps(t, _mm512_set1_ps(kErfcTailCenter)));
  const __m512 e = _mm512_mul_ps(exp512(_mm512_sub_ps(_mm512_setzero_ps(), hi)), exp512(_mm512_sub_ps(q, lo)));
  return _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(a, ten, _CMP_LT_OQ), t, e);
}

}  // namespace fn_detail

inline __m512 erf512(__m512 x) {
  using namespace fn_detail;
  const __m512 a = abs512(x), one = _mm512_set1_ps(1.0f);
  __m512 r = _mm512_mul_ps(a, horner(kErfSmall, _mm512_mul_ps(a, a)));
  const __mmask16 tail = _mm512_cmp_ps_mask(a, one, _CMP_GE_OQ);
  if (tail) r = _mm512_mask_sub_ps(r, tail, one, erfc_tail512(a));
  const __m512i sign = _mm512_and_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  return _mm512_castsi512_ps(_mm512_or_epi32(_mm512_castps_si512(r), sign));
}

// 1 + erf(x), computed as erfc(-x) for x <= -0.5, so it keeps its relative precision in the negative tail.
inline __m512 one_plus_erf512(__m512 x) {
  using namespace fn_detail;
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 r = _mm512_fmadd_ps(x, horner(kErfSmall, _mm512_mul_ps(x, x)), one);
  const __mmask16 pos = _mm512_cmp_ps_mask(x, one, _CMP_GE_OQ);
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-0.5f), _CMP_LE_OQ);
  if (pos | neg) {
    const __m512 c = erfc_tail512(abs512(x));
    r = _mm512_mask_sub_ps(r, pos, _mm512_set1_ps(2.0f), c);
    r = _mm512_mask_mov_ps(r, neg, c);
  }
  return r;
}

inline void erf_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, k, erf512(_mm512_maskz_loadu_ps(k, x + i)));
  }
}

// x = 1 + erf(x) (= erfc(-x), relatively precise for x < 0).
inline void one_plus_erf_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, k, one_plus_erf512(_mm512_maskz_loadu_ps(k, x + i)));
  }
}

}  // namespace anvil::ops::simd
