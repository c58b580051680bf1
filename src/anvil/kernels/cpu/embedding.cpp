// Token (+ learned position) embeddings forward/backward (anvil::ops), llm.c encoder_forward/backward.
// The backward splits channels into blocks across threads and walks tokens in order inside each block,
// so every gradient element is summed in the same order whatever the thread count (deterministic).
#include <algorithm>

#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kChannelBlock = 64;
constexpr int64_t kParallelMin = 1 << 14;

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* table, const float* pos_table, int64_t N,
                       int64_t T, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
  for (int64_t i = 0; i < N; ++i) {
    const float* w = table + static_cast<int64_t>(ids[i]) * C;
    float* o = out + i * C;
    if (pos_table) {
      const float* p = pos_table + (i % T) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) o[c] = w[c];
    }
  }
}

void embedding_backward(float* dtable, float* dpos_table, const float* dout, const int32_t* ids, int64_t N,
                        int64_t T, int64_t C) {
  const int64_t n_blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kChannelBlock, c1 = std::min(C, c0 + kChannelBlock);
    for (int64_t i = 0; i < N; ++i) {
      const float* g = dout + i * C;
      float* w = dtable + static_cast<int64_t>(ids[i]) * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) w[c] += g[c];
      if (dpos_table) {
        float* p = dpos_table + (i % T) * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) p[c] += g[c];
      }
    }
  }
}

}  // namespace anvil::ops
