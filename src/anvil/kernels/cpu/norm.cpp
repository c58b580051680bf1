// LayerNorm and RMSNorm forward/backward (anvil::ops), llm.c layernorm_forward/backward math.
// Rows run in parallel; the weight/bias gradients are summed per thread into private buffers and then
// reduced in thread order, so results are deterministic for a given thread count. Biased variance,
// rstd = 1/sqrt(var + eps); backward accumulates (+=) into dinp, dweight, dbias. Forward calls too small
// for two threads (decode steps) never enter an OpenMP region: even an inactive one costs microseconds.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kRowsPerThreadMin = 16;  // below this many rows per thread, run single-threaded

int n_threads_for(int64_t N, int64_t C) {
  const int64_t want = (N * C) / (kRowsPerThreadMin * 256);
  const int64_t t = std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, want));
  return static_cast<int>(std::min<int64_t>(t, std::max<int64_t>(1, N)));
}

// Runs row(r) for r in [0, N): on n_threads threads, or in the calling thread without a region.
template <typename Row>
void for_rows(int64_t N, int n_threads, const Row& row) {
  if (n_threads == 1) {
    for (int64_t r = 0; r < N; ++r) row(r);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (int64_t r = 0; r < N; ++r) row(r);
}

// Adds the per-thread partial rows part[t * C ...] into out, in thread order.
void reduce_partials(float* out, const std::vector<float>& part, int n_threads, int64_t C) {
  for (int t = 0; t < n_threads; ++t) {
    const float* p = part.data() + static_cast<int64_t>(t) * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] += p[c];
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps) {
  for_rows(N, n_threads_for(N, C), [&](int64_t r) {
    const float* x = inp + r * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const float m = sum / static_cast<float>(C);
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    const float s = 1.0f / std::sqrt(var / static_cast<float>(C) + eps);
    float* y = out + r * C;
    if (bias) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * s * weight[c] + bias[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * s * weight[c];
    }
    mean[r] = m;
    rstd[r] = s;
  });
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int n_threads = n_threads_for(N, C);
  std::vector<float> dw_part(static_cast<size_t>(n_threads * C), 0.0f);
  std::vector<float> db_part(dbias ? dw_part.size() : 0, 0.0f);
#pragma omp parallel num_threads(n_threads)
  {
    const int tid = omp_get_thread_num();
    float* dw = dw_part.data() + static_cast<int64_t>(tid) * C;
    float* db = dbias ? db_part.data() + static_cast<int64_t>(tid) * C : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N; ++r) {
      const float* x = inp + r * C;
      const float* dy = dout + r * C;
      const float m = mean[r], s = rstd[r];
      float sum_dn = 0.0f, sum_dn_n = 0.0f;
#pragma omp simd reduction(+ : sum_dn, sum_dn_n)
      for (int64_t c = 0; c < C; ++c) {
        const float dn = weight[c] * dy[c];
        sum_dn += dn;
        sum_dn_n += dn * (x[c] - m) * s;
      }
      sum_dn /= static_cast<float>(C);
      sum_dn_n /= static_cast<float>(C);
      float* dx = dinp + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float norm = (x[c] - m) * s;
        dx[c] += s * (weight[c] * dy[c] - sum_dn - norm * sum_dn_n);
        dw[c] += norm * dy[c];
      }
      if (db) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) db[c] += dy[c];
      }
    }
  }
  reduce_partials(dweight, dw_part, n_threads, C);
  if (dbias) reduce_partials(dbias, db_part, n_threads, C);
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                     float eps) {
  for_rows(N, n_threads_for(N, C), [&](int64_t r) {
    const float* x = inp + r * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    const float s = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
    float* y = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = x[c] * s * weight[c];
    rstd[r] = s;
  });
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  const int n_threads = n_threads_for(N, C);
  std::vector<float> dw_part(static_cast<size_t>(n_threads * C), 0.0f);
#pragma omp parallel num_threads(n_threads)
  {
    float* dw = dw_part.data() + static_cast<int64_t>(omp_get_thread_num()) * C;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N; ++r) {
      const float* x = inp + r * C;
      const float* dy = dout + r * C;
      const float s = rstd[r];
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < C; ++c) dot += weight[c] * dy[c] * x[c];
      const float k = s * s * dot / static_cast<float>(C);
      float* dx = dinp + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        dx[c] += s * (weight[c] * dy[c] - x[c] * k);
        dw[c] += dy[c] * x[c] * s;
      }
    }
  }
  reduce_partials(dweight, dw_part, n_threads, C);
}

}  // namespace anvil::ops
