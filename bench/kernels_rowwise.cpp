// Row-wise kernels: layernorm forward+backward (N=4096, C=768) and cross-entropy forward+backward
// (N=1024, V=32768, in place, label smoothing 0.1), 2 threads; bytes counters = the compulsory traffic
// (layernorm fwd reads x, writes y; bwd reads x, dy, rmw dx; CE reads logits twice, writes dlogits once).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <random>
#include <vector>

#include "anvil/kernels/ops.h"

namespace {

std::vector<float> random_buffer(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

void BM_LayerNorm(benchmark::State& state) {
  const int64_t N = 4096, C = 768;
  omp_set_num_threads(static_cast<int>(state.range(0)));
  const auto x = random_buffer(N * C, 1), w = random_buffer(C, 2), b = random_buffer(C, 3), dy = random_buffer(N * C, 4);
  std::vector<float> y(N * C), mean(N), rstd(N), dx(N * C), dw(C), db(C);
  for (auto _ : state) {
    anvil::ops::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
    anvil::ops::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(),
                                   rstd.data(), N, C);
  }
  state.counters["bytes"] = benchmark::Counter(6.0 * N * C * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1024);
}
BENCHMARK(BM_LayerNorm)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CrossEntropy(benchmark::State& state) {
  const int64_t N = 1024, V = 32768;
  omp_set_num_threads(static_cast<int>(state.range(0)));
  const auto logits = random_buffer(N * V, 5, 8.0f);
  std::vector<float> work(N * V), losses(N), lse(N);
  std::vector<int32_t> targets(N);
  for (int64_t i = 0; i < N; ++i) targets[i] = static_cast<int32_t>((i * 7919) % V);
  for (auto _ : state) {
    state.PauseTiming();
    work = logits;
    state.ResumeTiming();
    const int64_t n_valid = anvil::ops::cross_entropy_forward(losses.data(), lse.data(), work.data(), targets.data(),
                                                              N, V, 0.1f, -100);
    anvil::ops::cross_entropy_backward(work.data(), work.data(), lse.data(), targets.data(), N, V, 0.1f, -100,
                                       1.0f / static_cast<float>(n_valid));
  }
  state.counters["bytes"] = benchmark::Counter(3.0 * N * V * sizeof(float), benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1024);
}
BENCHMARK(BM_CrossEntropy)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
