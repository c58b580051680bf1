// Shared pieces of the flash-style attention kernels (attention_forward.cpp, attention_backward.cpp):
// strides and scale resolved from AttentionDims, the visible range (causal, HF sliding window: key j
// visible to query i iff i-W < j <= i), and the masking of one key-major score row. Tiles are key-major:
// St(j, i) = k_j . q_i for 64 keys x 64 queries, so every softmax statistic (max, sum, lse, Delta) is a
// vector over queries and no tile ever needs a transpose. Attention dropout (p > 0) draws the keep bit of
// P[b,h,i,j] from dropout_hash.h at flat index ((b*H + h)*T + i)*T + j, so forward, backward and
// anvil::ref agree whatever the tiling or thread count. Math: docs/kernels/attention.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/cpu/tile_micro.h"
#include "anvil/kernels/dropout_hash.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops::attention_detail {

inline constexpr int64_t kBlockQ = tile::kTileK;  // queries per tile (the columns of St)
inline constexpr int64_t kBlockK = 64;            // keys per tile (the rows of St)

struct Geometry {
  int64_t B, T, H, Hkv, D, group;
  int64_t qs, ks, vs;  // row strides of q, k, v (and dq, dk, dv)
  float scale;
  int64_t window;           // 0 = unlimited
  const float* slopes;      // ALiBi (H) or null
  bool drop;                // attention dropout on (p > 0)
  uint32_t drop_threshold;  // kernels_detail::dropout_threshold(p)
  float drop_scale;         // 1/(1-p) (0 when p >= 1)
  uint64_t drop_seed;
};

inline Geometry geometry(const AttentionDims& d) {
  ANVIL_CHECK(d.B >= 0 && d.T >= 0 && d.D > 0 && d.Hkv > 0 && d.H % d.Hkv == 0 && d.window >= 0,
              "[ops.attention] bad dims B={} T={} H={} Hkv={} D={} window={}", d.B, d.T, d.H, d.Hkv, d.D, d.window);
  ANVIL_CHECK(d.dropout_p >= 0.0f && d.dropout_p <= 1.0f, "[ops.attention] dropout_p={} outside [0, 1]", d.dropout_p);
  return Geometry{.B = d.B,
                  .T = d.T,
                  .H = d.H,
                  .Hkv = d.Hkv,
                  .D = d.D,
                  .group = d.H / d.Hkv,
                  .qs = d.q_row_stride ? d.q_row_stride : d.H * d.D,
                  .ks = d.k_row_stride ? d.k_row_stride : d.Hkv * d.D,
                  .vs = d.v_row_stride ? d.v_row_stride : d.Hkv * d.D,
                  .scale = d.scale != 0.0f ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D)),
                  .window = d.window,
                  .slopes = d.alibi_slopes,
                  .drop = d.dropout_p > 0.0f,
                  .drop_threshold = kernels_detail::dropout_threshold(d.dropout_p),
                  .drop_scale = d.dropout_p < 1.0f ? static_cast<float>(1.0 / (1.0 - d.dropout_p)) : 0.0f,
                  .drop_seed = d.dropout_seed};
}

// First key visible to query i.
inline int64_t first_key(const Geometry& g, int64_t i) { return g.window > 0 ? std::max<int64_t>(0, i - g.window + 1) : 0; }

// xt(e, r) = x(r, e) for n rows of D (row stride `stride`), into a (D, ld) buffer; columns [n, n_pad) zeroed.
inline void transpose_rows(float* xt, int64_t ld, const float* x, int64_t stride, int64_t n, int64_t n_pad, int64_t D) {
  constexpr int64_t kRows = 16;  // a block of rows stays in L1 while its columns are written out
  for (int64_t r0 = 0; r0 < n; r0 += kRows) {
    const int64_t r1 = std::min(n, r0 + kRows);
    for (int64_t e = 0; e < D; ++e) {
      float* dst = xt + e * ld;
      for (int64_t r = r0; r < r1; ++r) dst[r] = x[r * stride + e];
    }
  }
  for (int64_t e = 0; e < D; ++e)
    for (int64_t r = n; r < n_pad; ++r) xt[e * ld + r] = 0.0f;
}

// Key-major score row of key jg against queries i0 .. i0+kBlockQ (nq of them real): on entry raw dot
// products, on exit scale*s + slope*(jg - i) where key jg is visible to query i, -inf elsewhere.
// Returns false when no query of the row sees the key.
inline bool mask_key_row(float* s, const Geometry& g, int64_t h, int64_t jg, int64_t i0, int64_t nq) {
  const int64_t lo = std::max<int64_t>(0, jg - i0);
  const int64_t hi = g.window > 0 ? std::min<int64_t>(nq, jg + g.window - i0) : nq;
  const float slope = g.slopes ? g.slopes[h] : 0.0f, scale = g.scale;
  const float base = slope * static_cast<float>(jg - i0);  // slope * (jg - i) = base - slope * (i - i0)
#pragma omp simd
  for (int i = 0; i < static_cast<int>(kBlockQ); ++i) s[i] = s[i] * scale + (base - slope * static_cast<float>(i));
  for (int64_t i = 0; i < std::min<int64_t>(lo, kBlockQ); ++i) s[i] = -INFINITY;
  for (int64_t i = std::max<int64_t>(hi, 0); i < kBlockQ; ++i) s[i] = -INFINITY;
  return lo < hi;
}

// Dropout multipliers of the key-major row of key jg against queries i0 .. i0+kBlockQ: z[i] = 1/(1-p) if
// P[b,h,i0+i,jg] is kept, else 0. Columns past T draw from indices of other rows; their P is 0 anyway.
inline void dropout_row(float* z, const Geometry& g, int64_t b, int64_t h, int64_t jg, int64_t i0) {
  const uint64_t base = static_cast<uint64_t>(((b * g.H + h) * g.T + i0) * g.T + jg);
  const uint64_t stride = static_cast<uint64_t>(g.T), seed = g.drop_seed;
  const uint32_t threshold = g.drop_threshold;
  const float scale = g.drop_scale;
#pragma omp simd
  for (int i = 0; i < static_cast<int>(kBlockQ); ++i)
    z[i] = kernels_detail::dropout_keep(seed, base + static_cast<uint64_t>(i) * stride, threshold) ? scale : 0.0f;
}

}  // namespace anvil::ops::attention_detail
