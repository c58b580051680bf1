// Attention of a few new queries over one sequence's KV cache (prefill chunks and decode steps), anvil::ops.
// One task per (new query, head): keys stream through in chunks of kChunkK with an online softmax (running
// max m, running sum l, accumulator rescaled by exp(m_old - m_new)), so nothing is allocated and any cache
// length works. Dot products and axpys are OpenMP simd loops; exp is simd::exp_shift_sum. Small calls (one
// decode token of a small model) run on the calling thread: a fork/join would cost more than the work.
// Semantics: ops.h DecodeAttentionDims; the oracle is ref/ref_attention_decode.cpp.
#include <algorithm>
#include <cmath>

#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kChunkK = 256;                 // keys per online-softmax step (stack scores)
constexpr int64_t kParallelMinWork = int64_t{1} << 16;  // multiply-adds below which one thread runs it

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t e = 0; e < n; ++e) acc += a[e] * b[e];
  return acc;
}

// out (D) = softmax over the visible keys of query t, head h, times their values.
void attend_one(float* o, const float* qv, const float* k_cache, const float* v_cache, int64_t i, int64_t hk,
                float slope, float scale, const DecodeAttentionDims& d, int64_t ks) {
  const int64_t D = d.D;
  const int64_t j_begin = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0, j_end = i + 1;
  alignas(64) float s[kChunkK];
  std::fill(o, o + D, 0.0f);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kChunkK) {
    const int64_t nk = std::min(kChunkK, j_end - j0);
    for (int64_t jj = 0; jj < nk; ++jj) {
      const int64_t j = j0 + jj;
      s[jj] = dot(qv, k_cache + j * ks + hk * D, D) * scale + slope * static_cast<float>(j - i);
    }
    const float m_new = std::max(m, simd::max(s, nk));
    const float alpha = m == -INFINITY ? 0.0f : std::exp(m - m_new);
    l = l * alpha + simd::exp_shift_sum(s, s, m_new, nk);
    if (alpha != 1.0f) {
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) o[e] *= alpha;
    }
    for (int64_t jj = 0; jj < nk; ++jj) {
      const float p = s[jj];
      const float* vj = v_cache + (j0 + jj) * ks + hk * D;
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) o[e] += p * vj[e];
    }
    m = m_new;
  }
  const float inv = 1.0f / l;
#pragma omp simd
  for (int64_t e = 0; e < D; ++e) o[e] *= inv;
}

}  // namespace

void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const DecodeAttentionDims& d) {
  const int64_t qs = d.q_row_stride ? d.q_row_stride : d.H * d.D;
  const int64_t ks = d.kv_row_stride ? d.kv_row_stride : d.Hkv * d.D;
  const int64_t group = d.H / d.Hkv, n_tasks = d.T_new * d.H;
  const float scale = d.scale != 0.0f ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D));
  const int64_t n_keys = d.window > 0 ? std::min(d.window, d.pos0 + d.T_new) : d.pos0 + d.T_new;
  const bool parallel = n_tasks > 1 && 2 * n_tasks * n_keys * d.D >= kParallelMinWork;
  // Later queries see more keys: hand them out first.
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t task = n_tasks - 1; task >= 0; --task) {
    const int64_t t = task / d.H, h = task % d.H;
    const float slope = d.alibi_slopes ? d.alibi_slopes[h] : 0.0f;
    attend_one(out + task * d.D, q + t * qs + h * d.D, k_cache, v_cache, d.pos0 + t, h / group, slope, scale, d, ks);
  }
}

}  // namespace anvil::ops
