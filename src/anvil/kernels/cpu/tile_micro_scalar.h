// Portable versions of the tile products of tile_micro.h.
#pragma once

#include <cstdint>

namespace anvil::ops::tile {

inline void tile_qk(float* s, int64_t lds, const float* a, int64_t lda, int64_t nq, const float* bt, int64_t ldb, int64_t D) {
  for (int64_t r = 0; r < nq; ++r) {
    float acc[kTileK] = {};
    for (int64_t e = 0; e < D; ++e) {
      const float x = a[r * lda + e];
#pragma omp simd
      for (int64_t j = 0; j < kTileK; ++j) acc[j] += x * bt[e * ldb + j];
    }
    for (int64_t j = 0; j < kTileK; ++j) s[r * lds + j] = acc[j];
  }
}

inline void tile_pv(float* o, int64_t ldo, const float* p, int64_t p_rs, int64_t p_cs, int64_t nq, const float* v, int64_t ldv,
                    int64_t nk, int64_t D) {
  for (int64_t r = 0; r < nq; ++r)
    for (int64_t j = 0; j < nk; ++j) {
      const float x = p[r * p_rs + j * p_cs];
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) o[r * ldo + e] += x * v[j * ldv + e];
    }
}

}  // namespace anvil::ops::tile
