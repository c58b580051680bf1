// small_linear (see small_linear.h). nn.Linear (out, in): out[n][o] = dot(W[o, :], x[n]) — contiguous dot
// products. Conv1D (in, out): out[n][c] = sum_i x[n][i] W[i][c] — axpys over contiguous rows of W, a block
// of kColBlock columns per task so the accumulators stay in L1. OpenMP simd loops; threads only when the
// weight is big enough to pay for a fork (kParallelMinWeights).
#include "anvil/infer/small_linear.h"

#include <algorithm>

#include "anvil/base/check.h"

namespace anvil::infer {
namespace {

constexpr int64_t kParallelMinWeights = int64_t{1} << 15;
constexpr int64_t kColBlock = 256;

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

}  // namespace

void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N) {
  ANVIL_CHECK(N >= 1 && N <= kSmallLinearMaxRows, "small_linear: {} rows", N);
  const int64_t in = lin.in, n_out = lin.out;
  const float* w = lin.w;
  const float* b = lin.b;
  const bool parallel = in * n_out >= kParallelMinWeights;
  if (lin.layout == model::WeightLayout::kOutIn) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < n_out; ++o) {
      const float* wo = w + o * in;
      for (int64_t n = 0; n < N; ++n) out[n * ldo + o] = dot(wo, inp + n * ldi, in) + (b ? b[o] : 0.0f);
    }
    return;
  }
  const int64_t n_blocks = (n_out + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kColBlock, nc = std::min(kColBlock, n_out - c0);
    for (int64_t n = 0; n < N; ++n) {
      float* y = out + n * ldo + c0;
      const float* x = inp + n * ldi;
      for (int64_t c = 0; c < nc; ++c) y[c] = b ? b[c0 + c] : 0.0f;
      for (int64_t i = 0; i < in; ++i) {
        const float xi = x[i];
        const float* wi = w + i * n_out + c0;
#pragma omp simd
        for (int64_t c = 0; c < nc; ++c) y[c] += xi * wi[c];
      }
    }
  }
}

}  // namespace anvil::infer
