// Flash-attention forward on the CPU (anvil::ops): one task per (batch, head, block of 64 queries); keys
// stream through in tiles of 64 with an online softmax (running max m, running sum l, rescaled accumulator),
// so no T x T matrix exists. Only key tiles some query of the block can see are visited (causal, window).
// Tiles are key-major (attention_tile.h) so the softmax statistics are vectors over the block's queries;
// products are the register-blocked micro-kernels of tile_micro.h. Saves lse = m + log l (B, H, T).
// Attention dropout multiplies the tile by the keep mask / (1-p) after l has summed the undropped row,
// so O = (P o Z/(1-p)) V with the softmax normaliser (and lse) of the undropped P.
// Math: docs/kernels/attention.md (Dao et al. 2022).
#include <vector>

#include "anvil/kernels/cpu/attention_tile.h"

namespace anvil::ops {

using namespace attention_detail;

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& dims) {
  const Geometry g = geometry(dims);
  const int64_t D = g.D, n_qblocks = (g.T + kBlockQ - 1) / kBlockQ;
  const int64_t n_tasks = g.B * g.H * n_qblocks;
#pragma omp parallel
  {
    std::vector<float> qt(static_cast<size_t>(D * kBlockQ)), acc(static_cast<size_t>(kBlockQ * D));
    std::vector<float> st(static_cast<size_t>(kBlockK * kBlockQ));
    alignas(64) float m[kBlockQ], l[kBlockQ], tile_max[kBlockQ], shift[kBlockQ], alpha[kBlockQ], z[kBlockQ];
    // Later query blocks have the most work: hand them out first.
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < n_tasks; ++task) {
      const int64_t qb = n_qblocks - 1 - task % n_qblocks, bh = task / n_qblocks;
      const int64_t b = bh / g.H, h = bh % g.H, hk = h / g.group;
      const int64_t i0 = qb * kBlockQ, nq = std::min(kBlockQ, g.T - i0);
      const float* kh = k + b * g.T * g.ks + hk * D;
      const float* vh = v + b * g.T * g.vs + hk * D;
      transpose_rows(qt.data(), kBlockQ, q + (b * g.T + i0) * g.qs + h * D, g.qs, nq, kBlockQ, D);
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(m, m + kBlockQ, -INFINITY);
      std::fill(l, l + kBlockQ, 0.0f);
      const int64_t j_begin = first_key(g, i0), j_end = i0 + nq;
      for (int64_t j0 = j_begin; j0 < j_end; j0 += kBlockK) {
        const int64_t nk = std::min(kBlockK, j_end - j0);
        tile::tile_qk(st.data(), kBlockQ, kh + j0 * g.ks, g.ks, nk, qt.data(), kBlockQ, D);
        std::fill(tile_max, tile_max + kBlockQ, -INFINITY);
        for (int64_t j = 0; j < nk; ++j) {
          float* row = st.data() + j * kBlockQ;
          mask_key_row(row, g, h, j0 + j, i0, nq);
#pragma omp simd
          for (int64_t i = 0; i < kBlockQ; ++i) tile_max[i] = std::max(tile_max[i], row[i]);
        }
        // Columns with no visible key so far keep m = -inf: shift by 0 there (their scores are -inf).
#pragma omp simd
        for (int64_t i = 0; i < kBlockQ; ++i) {
          const float m_new = std::max(m[i], tile_max[i]);
          shift[i] = m_new == -INFINITY ? 0.0f : m_new;
          alpha[i] = m[i] == -INFINITY ? 0.0f : m[i] - m_new;  // exp'd below (0 -> factor 1 on an empty acc)
          m[i] = m_new;
        }
        simd::exp_inplace(alpha, kBlockQ);
        for (int64_t j = 0; j < nk; ++j) {
          float* row = st.data() + j * kBlockQ;
#pragma omp simd
          for (int64_t i = 0; i < kBlockQ; ++i) row[i] -= shift[i];
          simd::exp_inplace(row, kBlockQ);
        }
#pragma omp simd
        for (int64_t i = 0; i < kBlockQ; ++i) l[i] *= alpha[i];
        for (int64_t j = 0; j < nk; ++j) {
          const float* row = st.data() + j * kBlockQ;
#pragma omp simd
          for (int64_t i = 0; i < kBlockQ; ++i) l[i] += row[i];
        }
        if (g.drop) {
          for (int64_t j = 0; j < nk; ++j) {
            float* row = st.data() + j * kBlockQ;
            dropout_row(z, g, b, h, j0 + j, i0);
#pragma omp simd
            for (int64_t i = 0; i < kBlockQ; ++i) row[i] *= z[i];
          }
        }
        for (int64_t r = 0; r < nq; ++r) {
          float* o = acc.data() + r * D;
          const float a = alpha[r];
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) o[e] *= a;
        }
        // O(nq, D) += P(nq, nk) V(nk, D), P read from the key-major tile (element (i, j) at st[j*64 + i]).
        tile::tile_pv(acc.data(), D, st.data(), 1, kBlockQ, nq, vh + j0 * g.vs, g.vs, nk, D);
      }
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t i = i0 + r;
        const float inv = 1.0f / l[r];
        float* dst = out + ((b * g.T + i) * g.H + h) * D;
        const float* o = acc.data() + r * D;
#pragma omp simd
        for (int64_t e = 0; e < D; ++e) dst[e] = o[e] * inv;
        lse[(b * g.H + h) * g.T + i] = m[r] + std::log(l[r]);
      }
    }
  }
}

}  // namespace anvil::ops
