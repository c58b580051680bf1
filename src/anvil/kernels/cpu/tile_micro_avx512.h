// AVX-512 micro-kernels for the tile products of tile_micro.h. tile_qk keeps a 4-row x 64-key block of S in
// 16 zmm accumulators (per step: 4 loads of Bt, 4 broadcasts, 16 FMAs); tile_pv keeps a 4-row x 64-column
// block of O in 16 accumulators over all nk keys (masked loads/stores cover D % 16 and D % 64 tails).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace anvil::ops::tile {
namespace detail {

template <int R>
inline void qk_rows(float* s, int64_t lds, const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t D) {
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t e = 0; e < D; ++e) {
    const float* b = bt + e * ldb;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32),
                 b3 = _mm512_loadu_ps(b + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + e]);
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(x, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(x, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(s + r * lds + 16 * c, acc[r][c]);
}

// O[r][c0 .. c0 + 16*NV) (masked to D) += sum_j P[r][j] V[j][...], R rows at once.
template <int R, int NV>
inline void pv_rows(float* o, int64_t ldo, const float* p, int64_t p_rs, int64_t p_cs, const float* v, int64_t ldv, int64_t nk,
                    int64_t c0, int64_t D) {
  __mmask16 m[NV];
  for (int c = 0; c < NV; ++c) {
    const int64_t left = D - c0 - 16 * c;
    m[c] = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
  }
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_maskz_loadu_ps(m[c], o + r * ldo + c0 + 16 * c);
  for (int64_t j = 0; j < nk; ++j) {
    __m512 b[NV];
    for (int c = 0; c < NV; ++c) b[c] = _mm512_maskz_loadu_ps(m[c], v + j * ldv + c0 + 16 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(p[r * p_rs + j * p_cs]);
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(x, b[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NV; ++c) _mm512_mask_storeu_ps(o + r * ldo + c0 + 16 * c, m[c], acc[r][c]);
}

template <int NV>
inline void pv_cols(float* o, int64_t ldo, const float* p, int64_t p_rs, int64_t p_cs, int64_t nq, const float* v, int64_t ldv,
                    int64_t nk, int64_t c0, int64_t D) {
  int64_t r = 0;
  for (; r + 4 <= nq; r += 4) pv_rows<4, NV>(o + r * ldo, ldo, p + r * p_rs, p_rs, p_cs, v, ldv, nk, c0, D);
  switch (nq - r) {
    case 3: pv_rows<3, NV>(o + r * ldo, ldo, p + r * p_rs, p_rs, p_cs, v, ldv, nk, c0, D); break;
    case 2: pv_rows<2, NV>(o + r * ldo, ldo, p + r * p_rs, p_rs, p_cs, v, ldv, nk, c0, D); break;
    case 1: pv_rows<1, NV>(o + r * ldo, ldo, p + r * p_rs, p_rs, p_cs, v, ldv, nk, c0, D); break;
    default: break;
  }
}

}  // namespace detail

inline void tile_qk(float* s, int64_t lds, const float* a, int64_t lda, int64_t nq, const float* bt, int64_t ldb, int64_t D) {
  int64_t r = 0;
  for (; r + 4 <= nq; r += 4) detail::qk_rows<4>(s + r * lds, lds, a + r * lda, lda, bt, ldb, D);
  switch (nq - r) {
    case 3: detail::qk_rows<3>(s + r * lds, lds, a + r * lda, lda, bt, ldb, D); break;
    case 2: detail::qk_rows<2>(s + r * lds, lds, a + r * lda, lda, bt, ldb, D); break;
    case 1: detail::qk_rows<1>(s + r * lds, lds, a + r * lda, lda, bt, ldb, D); break;
    default: break;
  }
}

inline void tile_pv(float* o, int64_t ldo, const float* p, int64_t p_rs, int64_t p_cs, int64_t nq, const float* v, int64_t ldv,
                    int64_t nk, int64_t D) {
  for (int64_t c0 = 0; c0 < D; c0 += 64) {
    switch (std::min<int64_t>(4, (D - c0 + 15) / 16)) {
      case 4: detail::pv_cols<4>(o, ldo, p, p_rs, p_cs, nq, v, ldv, nk, c0, D); break;
      case 3: detail::pv_cols<3>(o, ldo, p, p_rs, p_cs, nq, v, ldv, nk, c0, D); break;
      case 2: detail::pv_cols<2>(o, ldo, p, p_rs, p_cs, nq, v, ldv, nk, c0, D); break;
      default: detail::pv_cols<1>(o, ldo, p, p_rs, p_cs, nq, v, ldv, nk, c0, D); break;
    }
  }
}

}  // namespace anvil::ops::tile
