// Flash-attention backward on the CPU (anvil::ops): one task per (batch, kv head), so every dk/dv row and
// the dq rows of the kv head's query group are owned by one thread (no races, no atomics). For each key
// tile and each block of queries that can see it, it recomputes P = exp(S - lse) key-major, then
//   dV += P^T dO,  dP = dO V^T,  dS = P o (dP - Delta) with Delta = rowsum(dO o O),
//   dQ += scale dS K,  dK += scale dS^T Q   (docs/kernels/attention.md; Dao 2023, FlashAttention-2),
// every product a tile_micro.h micro-kernel on key-major tiles (no per-tile transposes). With attention
// dropout the keep mask Z is regenerated from the hash: dV += (P o Z/(1-p))^T dO, dP = (dO V^T) o Z/(1-p),
// dS = P o (dP - Delta), Delta = rowsum(dO o O) still (O is the dropped output). dq, dk, dv are
// written (=), touching only their own elements of possibly fused, strided buffers.
#include <vector>

#include "anvil/kernels/cpu/attention_tile.h"

namespace anvil::ops {

using namespace attention_detail;

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const float* q, const float* k, const float* v, const AttentionDims& dims) {
  const Geometry g = geometry(dims);
  const int64_t D = g.D, T = g.T, ldo = g.H * D;
  const int64_t Tp = T + kBlockQ;  // padded query count: any 64-query window starting below T fits
  const int64_t n_tasks = g.B * g.Hkv;
#pragma omp parallel
  {
    // Per head of the group: Q^T and dO^T (D, Tp), lse and Delta (Tp), zero past T.
    std::vector<float> qt(static_cast<size_t>(g.group * D * Tp)), dot(qt.size());
    std::vector<float> lse_p(static_cast<size_t>(g.group * Tp)), delta(lse_p.size());
    std::vector<float> dk_acc(static_cast<size_t>(kBlockK * D)), dv_acc(dk_acc.size());
    std::vector<float> pt(static_cast<size_t>(kBlockK * kBlockQ)), dpt(pt.size());
    alignas(64) float z[kBlockQ];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < n_tasks; ++task) {
      const int64_t b = task / g.Hkv, hk = task % g.Hkv, h_first = hk * g.group;
      const float* kh = k + b * T * g.ks + hk * D;
      const float* vh = v + b * T * g.vs + hk * D;
      for (int64_t gh = 0; gh < g.group; ++gh) {
        const int64_t h = h_first + gh;
        transpose_rows(qt.data() + gh * D * Tp, Tp, q + b * T * g.qs + h * D, g.qs, T, Tp, D);
        transpose_rows(dot.data() + gh * D * Tp, Tp, dout + b * T * ldo + h * D, ldo, T, Tp, D);
        float* lp = lse_p.data() + gh * Tp;
        float* dl = delta.data() + gh * Tp;
        for (int64_t i = 0; i < T; ++i) {
          const float* o = out + (b * T + i) * ldo + h * D;
          const float* go = dout + (b * T + i) * ldo + h * D;
          float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
          for (int64_t e = 0; e < D; ++e) acc += o[e] * go[e];
          dl[i] = acc;
          lp[i] = lse[(b * g.H + h) * T + i];
          float* gq = dq + (b * T + i) * g.qs + h * D;
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) gq[e] = 0.0f;
        }
        std::fill(lp + T, lp + Tp, 0.0f);
        std::fill(dl + T, dl + Tp, 0.0f);
      }
      for (int64_t j0 = 0; j0 < T; j0 += kBlockK) {
        const int64_t nk = std::min(kBlockK, T - j0);
        std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
        std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
        // Queries that see a key of [j0, j0+nk): i >= j0 and (with a window) i < j0 + nk - 1 + W.
        const int64_t i_end = g.window > 0 ? std::min(T, j0 + nk - 1 + g.window) : T;
        for (int64_t gh = 0; gh < g.group; ++gh) {
          const int64_t h = h_first + gh;
          for (int64_t i0 = j0; i0 < i_end; i0 += kBlockQ) {
            const int64_t nq = std::min(kBlockQ, i_end - i0);
            const float* lp = lse_p.data() + gh * Tp + i0;
            const float* dl = delta.data() + gh * Tp + i0;
            // St = K Q^T and dPt = V dO^T for this (key tile, query block).
            tile::tile_qk(pt.data(), kBlockQ, kh + j0 * g.ks, g.ks, nk, qt.data() + gh * D * Tp + i0, Tp, D);
            tile::tile_qk(dpt.data(), kBlockQ, vh + j0 * g.vs, g.vs, nk, dot.data() + gh * D * Tp + i0, Tp, D);
            for (int64_t j = 0; j < nk; ++j) {
              float* prow = pt.data() + j * kBlockQ;
              float* dsrow = dpt.data() + j * kBlockQ;  // dPt becomes dSt in place
              mask_key_row(prow, g, h, j0 + j, i0, nq);
#pragma omp simd
              for (int64_t i = 0; i < kBlockQ; ++i) prow[i] -= lp[i];
              simd::exp_inplace(prow, kBlockQ);
              if (g.drop) {  // dS from the undropped P and the dropped dP; prow becomes the dropped P for dV
                dropout_row(z, g, b, h, j0 + j, i0);
#pragma omp simd
                for (int64_t i = 0; i < kBlockQ; ++i) {
                  dsrow[i] = prow[i] * (dsrow[i] * z[i] - dl[i]) * g.scale;
                  prow[i] *= z[i];
                }
              } else {
#pragma omp simd
                for (int64_t i = 0; i < kBlockQ; ++i) dsrow[i] = prow[i] * (dsrow[i] - dl[i]) * g.scale;
              }
            }
            const float* qblk = q + (b * T + i0) * g.qs + h * D;
            const float* goblk = dout + (b * T + i0) * ldo + h * D;
            tile::tile_pv(dv_acc.data(), D, pt.data(), kBlockQ, 1, nk, goblk, ldo, nq, D);   // dV += Pt dO
            tile::tile_pv(dk_acc.data(), D, dpt.data(), kBlockQ, 1, nk, qblk, g.qs, nq, D);  // dK += dSt Q
            tile::tile_pv(dq + (b * T + i0) * g.qs + h * D, g.qs, dpt.data(), 1, kBlockQ, nq, kh + j0 * g.ks, g.ks,
                          nk, D);  // dQ += dS K
          }
        }
        for (int64_t j = 0; j < nk; ++j) {
          float* gk = dk + (b * T + j0 + j) * g.ks + hk * D;
          float* gv = dv + (b * T + j0 + j) * g.vs + hk * D;
          const float* ak = dk_acc.data() + j * D;
          const float* av = dv_acc.data() + j * D;
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) {
            gk[e] = ak[e];
            gv[e] = av[e];
          }
        }
      }
    }
  }
}

}  // namespace anvil::ops
