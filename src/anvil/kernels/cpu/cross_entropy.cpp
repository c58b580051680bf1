// Row softmax and token cross-entropy with label smoothing and ignore_index (anvil::ops), torch semantics
// (spec 2.4): loss = lse - (1-eps) z_y - (eps/V) sum_c z_c; dlogits = dloss (softmax(z) - q) with
// q = (1-eps) onehot(y) + eps/V. Max-shifted exponentials keep huge logits finite. Rows run in parallel;
// the backward may run in place (dlogits == logits): each row reads z only before overwriting it.
#include <algorithm>
#include <cmath>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kParallelMinRowElems = 1 << 14;

}  // namespace

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMinRowElems)
  for (int64_t r = 0; r < N; ++r) {
    const float mx = simd::max(inp + r * C, C);
    const float inv = 1.0f / simd::exp_shift_sum(out + r * C, inp + r * C, mx, C);
    float* y = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] *= inv;
  }
}

int64_t cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                              int64_t N, int64_t V, float label_smoothing, int32_t ignore_index) {
  int64_t n_valid = 0;
#pragma omp parallel for schedule(static) reduction(+ : n_valid) if (N * V > kParallelMinRowElems)
  for (int64_t r = 0; r < N; ++r) {
    const float* z = logits + r * V;
    // One pass for the max and (with smoothing) the sum of logits, one for the exponentials.
    float mx = -INFINITY;
    double sum_z = 0.0;  // (eps/V) sum z is a mean of up to ~1e5 terms: accumulate in double
    if (label_smoothing != 0.0f) {
#pragma omp simd reduction(max : mx) reduction(+ : sum_z)
      for (int64_t c = 0; c < V; ++c) {
        mx = std::max(mx, z[c]);
        sum_z += z[c];
      }
    } else {
      mx = simd::max(z, V);
    }
    const float l = mx + std::log(simd::exp_shift_sum(nullptr, z, mx, V));
    lse[r] = l;
    const int32_t y = targets[r];
    if (y == ignore_index) {
      losses[r] = 0.0f;
      continue;
    }
    ANVIL_CHECK(y >= 0 && y < V, "[ops.cross_entropy_forward] target {} of row {} outside [0, {})", y, r, V);
    const float smooth = static_cast<float>(label_smoothing * (sum_z / static_cast<double>(V)));
    losses[r] = (l - (1.0f - label_smoothing) * z[y]) - smooth;
    ++n_valid;
  }
  return n_valid;
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            int64_t N, int64_t V, float label_smoothing, int32_t ignore_index, float dloss) {
  const float uniform = label_smoothing / static_cast<float>(V);
#pragma omp parallel for schedule(static) if (N * V > kParallelMinRowElems)
  for (int64_t r = 0; r < N; ++r) {
    float* d = dlogits + r * V;
    const int32_t y = targets[r];
    if (y == ignore_index) {
#pragma omp simd
      for (int64_t c = 0; c < V; ++c) d[c] = 0.0f;
      continue;
    }
    ANVIL_CHECK(y >= 0 && y < V, "[ops.cross_entropy_backward] target {} of row {} outside [0, {})", y, r, V);
    simd::exp_shift_affine(d, logits + r * V, lse[r], dloss, -dloss * uniform, V);  // dloss (p - eps/V)
    d[y] -= dloss * (1.0f - label_smoothing);
  }
}

}  // namespace anvil::ops
