// GELU forward+backward over 4M elements (B*T*d_ff of a small training step), 1 and 2 threads: the erf
// form through simd::one_plus_erf_inplace against the scalar std::erf loop it replaced (kept here as the
// baseline, same chunking and OpenMP split), plus the tanh form. bytes = compulsory traffic (fwd reads x,
// writes y; bwd reads x, dy, writes dx).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "anvil/kernels/ops.h"

namespace {

constexpr int64_t kN = 1 << 22;
constexpr int64_t kChunk = 256;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

std::vector<float> random_buffer(size_t n, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// The pre-vectorisation erf GELU (scalar std::erf per element, exp for the backward's Gaussian term).
void gelu_erf_scalar_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < (n + kChunk - 1) / kChunk; ++c)
    for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i)
      y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void gelu_erf_scalar_backward(float* dx, const float* x, const float* dy, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < (n + kChunk - 1) / kChunk; ++c)
    for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
      const float d = 0.5f * (1.0f + std::erf(x[i] * kInvSqrt2)) + x[i] * kInvSqrt2Pi * std::exp(-0.5f * x[i] * x[i]);
      dx[i] = d * dy[i];
    }
}

enum class Impl { kErf, kErfScalarBaseline, kTanh };

void gelu_case(benchmark::State& state, Impl impl) {
  omp_set_num_threads(static_cast<int>(state.range(0)));
  const auto x = random_buffer(kN, 1, 4.0f), dy = random_buffer(kN, 2, 1.0f);
  std::vector<float> y(kN), dx(kN);
  for (auto _ : state) {
    switch (impl) {
      case Impl::kErf:
        anvil::ops::gelu_forward(y.data(), x.data(), kN, anvil::GeluApprox::kErf);
        anvil::ops::gelu_backward(dx.data(), x.data(), dy.data(), kN, anvil::GeluApprox::kErf);
        break;
      case Impl::kErfScalarBaseline:
        gelu_erf_scalar_forward(y.data(), x.data(), kN);
        gelu_erf_scalar_backward(dx.data(), x.data(), dy.data(), kN);
        break;
      case Impl::kTanh:
        anvil::ops::gelu_forward(y.data(), x.data(), kN, anvil::GeluApprox::kTanh);
        anvil::ops::gelu_backward(dx.data(), x.data(), dy.data(), kN, anvil::GeluApprox::kTanh);
        break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["bytes"] = benchmark::Counter(5.0 * kN * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1024);
  state.counters["elems"] = benchmark::Counter(static_cast<double>(kN), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GeluErf(benchmark::State& st) { gelu_case(st, Impl::kErf); }
void BM_GeluErfScalarBaseline(benchmark::State& st) { gelu_case(st, Impl::kErfScalarBaseline); }
void BM_GeluTanh(benchmark::State& st) { gelu_case(st, Impl::kTanh); }
BENCHMARK(BM_GeluErf)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GeluErfScalarBaseline)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GeluTanh)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
