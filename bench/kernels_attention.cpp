// Fused causal attention benchmarks at the two training configs (B=16 T=256 H=4 D=64 and B=8 T=512 H=8
// D=64), forward and backward, 1 and 2 threads. FLOPs count the causal half of the score matrix only:
// forward 4 B H D T(T+1)/2 (QK^T and PV); backward 2x that (dV, dP, dQ, dK), excluding the recompute of S.
// The *Dropout variants add attention-probability dropout (p = 0.1, mask hashed per probability) at the
// first config: their ratio to the plain runs is the cost of the mask.
// BM_AttentionDecode: one decode step's attention (ops::attention_decode, one new query) over f16 KV
// caches in the engine's per-head layout, for the heads of LLaMA 15M, GPT-2 S and LLaMA 110M at 128 and
// 1024 positions, one thread. Hot: one cache, re-read every call. Cold: the call cycles through 64 MB of
// caches, as in a decode step, where a layer's weights have pushed the cache out of L2/L3 since the last
// attention. bytes_per_second counts the K and V read; vs_stream divides it by a plain sequential sum of
// as many bytes in the same run (this machine's read bandwidth at that moment, the kernel's roofline).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <chrono>
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

struct DecodeShape {
  const char* name;
  int64_t H, D;
};
constexpr DecodeShape kDecodeShapes[] = {{"llama-15M", 6, 48}, {"gpt2-S", 4, 64}, {"llama-110M", 12, 64}};
constexpr int64_t kColdBytes = int64_t{64} << 20;

// Seconds per byte of a sequential read of buf (best of 3 passes).
double stream_seconds_per_byte(const std::vector<anvil::f16_t>& buf) {
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t sum = 0;
    const auto* w = reinterpret_cast<const uint64_t*>(buf.data());
    const size_t n_words = buf.size() / 4;
#pragma omp simd reduction(+ : sum)
    for (size_t i = 0; i < n_words; ++i) sum += w[i];
    benchmark::DoNotOptimize(sum);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best / static_cast<double>(buf.size() * sizeof(anvil::f16_t));
}

void BM_AttentionDecode(benchmark::State& state) {
  const DecodeShape sh = kDecodeShapes[state.range(0)];
  const int64_t n = state.range(1);
  const bool cold = state.range(2) != 0;
  omp_set_num_threads(1);
  const int64_t per = sh.H * n * sh.D;  // elements of K (and of V) in one cache
  const int64_t n_caches = cold ? std::max<int64_t>(1, kColdBytes / (2 * per * 2)) : 1;
  std::vector<anvil::f16_t> k(static_cast<size_t>(per * n_caches)), v(k.size());
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& x : k) x = anvil::f32_to_f16(u(gen));
  for (auto& x : v) x = anvil::f32_to_f16(u(gen));
  const auto q = random_buffer(static_cast<size_t>(sh.H * sh.D), 4);
  std::vector<float> out(static_cast<size_t>(sh.H * sh.D));
  const anvil::DecodeAttentionDims d{.T_new = 1, .pos0 = n - 1, .H = sh.H, .Hkv = sh.H, .D = sh.D,
                                     .kv_row_stride = sh.D, .kv_head_stride = n * sh.D};
  int64_t c = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    anvil::ops::attention_decode(out.data(), q.data(), k.data() + c * per, v.data() + c * per, d);
    c = c + 1 == n_caches ? 0 : c + 1;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double bytes = 2.0 * static_cast<double>(per) * sizeof(anvil::f16_t);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  // Achieved bandwidth / streaming bandwidth = (stream time for every call's bytes) / elapsed.
  state.counters["vs_stream"] =
      bytes * static_cast<double>(state.iterations()) * stream_seconds_per_byte(k) / elapsed;
  state.SetLabel(std::string(sh.name) + " heads, " + std::to_string(n) + " positions, " + (cold ? "cold" : "hot"));
}
BENCHMARK(BM_AttentionDecode)
    ->ArgsProduct({{0, 1, 2}, {128, 1024}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->MinTime(0.2);

}  // namespace
