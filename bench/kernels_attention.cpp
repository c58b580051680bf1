// Fused causal attention benchmarks at the two training configs (B=16 T=256 H=4 D=64 and B=8 T=512 H=8
// D=64), forward and backward, 1 and 2 threads. FLOPs count the causal half of the score matrix only:
// forward 4 B H D T(T+1)/2 (QK^T and PV); backward 2x that (dV, dP, dQ, dK), excluding the recompute of S.
// The *Dropout variants add attention-probability dropout (p = 0.1, mask hashed per probability) at the
// first config: their ratio to the plain runs is the cost of the mask.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <random>
#include <vector>

#include "anvil/kernels/ops.h"

namespace {

struct Config {
  int64_t B, T, H, D;
};
constexpr Config kConfigs[] = {{16, 256, 4, 64}, {8, 512, 8, 64}};

std::vector<float> random_buffer(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

void attention_case(benchmark::State& state, bool backward, float dropout_p = 0.0f) {
  const Config c = kConfigs[state.range(0)];
  omp_set_num_threads(static_cast<int>(state.range(1)));
  const int64_t n = c.B * c.T * c.H * c.D;
  // q, k, v inside one fused (B*T, 3*H*D) buffer, as the model's qkv projection produces them.
  const auto qkv = random_buffer(3 * n, 1), dout = random_buffer(n, 2);
  const int64_t row = 3 * c.H * c.D;
  const anvil::AttentionDims dims{.B = c.B, .T = c.T, .H = c.H, .Hkv = c.H, .D = c.D,
                                  .q_row_stride = row, .k_row_stride = row, .v_row_stride = row,
                                  .dropout_p = dropout_p, .dropout_seed = 7};
  std::vector<float> out(n), lse(c.B * c.H * c.T), dqkv(3 * n);
  const float *q = qkv.data(), *k = q + c.H * c.D, *v = k + c.H * c.D;
  anvil::ops::attention_forward(out.data(), lse.data(), q, k, v, dims);
  for (auto _ : state) {
    if (backward) {
      anvil::ops::attention_backward(dqkv.data(), dqkv.data() + c.H * c.D, dqkv.data() + 2 * c.H * c.D, dout.data(),
                                     out.data(), lse.data(), q, k, v, dims);
    } else {
      anvil::ops::attention_forward(out.data(), lse.data(), q, k, v, dims);
    }
  }
  const double fwd = 4.0 * c.B * c.H * c.D * c.T * (c.T + 1) / 2.0;
  state.counters["FLOPS"] = benchmark::Counter(backward ? 2.0 * fwd : fwd, benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1000);
  state.SetLabel("B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) +
                 " D=" + std::to_string(c.D) + " threads=" + std::to_string(state.range(1)) +
                 (dropout_p > 0 ? " dropout=" + std::to_string(dropout_p) : ""));
}

void BM_AttentionForward(benchmark::State& st) { attention_case(st, false); }
void BM_AttentionBackward(benchmark::State& st) { attention_case(st, true); }

void attention_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int cfg = 0; cfg < 2; ++cfg) b->Args({cfg, threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
}
BENCHMARK(BM_AttentionForward)->Apply(attention_args);
BENCHMARK(BM_AttentionBackward)->Apply(attention_args);

void BM_AttentionForwardDropout(benchmark::State& st) { attention_case(st, false, 0.1f); }
void BM_AttentionBackwardDropout(benchmark::State& st) { attention_case(st, true, 0.1f); }

void dropout_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) b->Args({0, threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
}
BENCHMARK(BM_AttentionForwardDropout)->Apply(dropout_args);
BENCHMARK(BM_AttentionBackwardDropout)->Apply(dropout_args);

}  // namespace
