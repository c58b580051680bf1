// GEMM benchmarks at the model's shapes: forward Y = X W^T (NT), dX = dY W (NN), dW = dY^T X (TN), fp32 and
// bf16, 1 and 2 threads. Also times the alternative fp32 path (oneDNN matmul primitive, brgemm) that
// ops::gemm does not take, to keep the choice in docs/kernels/gemm.md measurable. Counters: GFLOP/s and
// the ratio to the oneDNN ceiling measured by the peers (RESULTS.md: fp32 237, bf16 497 GFLOP/s per core).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <vector>

#include "anvil/kernels/ops.h"

namespace {

using anvil::Precision;
using anvil::Transpose;

constexpr double kCeilingF32PerCore = 237.0;   // RESULTS.md: oneDNN 2.6 fp32 matmul, 223-251 GFLOP/s/core
constexpr double kCeilingBf16PerCore = 497.0;  // RESULTS.md: oneDNN 2.6 bf16 -> fp32, 486-508 GFLOP/s/core

// (M, K, N) of the linear layers of the GPT-2 configs S (d 256) and M (d 512, vocab 32768).
struct Shape {
  int64_t M, K, N;
};
constexpr Shape kShapes[] = {{4096, 256, 768}, {4096, 512, 2048}, {4096, 512, 32768}, {4096, 768, 3072}};

std::vector<float> random_buffer(size_t n) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// op 0: Y(M,N) = X(M,K) W(N,K)^T;  op 1: dX(M,K) = dY(M,N) W(N,K);  op 2: dW(N,K) = dY(M,N)^T X(M,K).
void gemm_case(benchmark::State& state, Precision prec, bool matmul_f32) {
  const Shape s = kShapes[state.range(0)];
  const int op = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  omp_set_num_threads(threads);
  const auto x = random_buffer(s.M * s.K), w = random_buffer(s.N * s.K), dy = random_buffer(s.M * s.N);
  std::vector<float> out(std::max({s.M * s.N, s.M * s.K, s.N * s.K}));
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  auto run = [&] {
    if (matmul_f32) {  // Y = X W^T through the matmul primitive (forward shape only)
      using dnnl::memory;
      memory::desc a({s.M, s.K}, memory::data_type::f32, memory::dims{s.K, 1});
      memory::desc b({s.K, s.N}, memory::data_type::f32, memory::dims{1, s.K});
      memory::desc c({s.M, s.N}, memory::data_type::f32, memory::dims{s.N, 1});
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng);
      dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, memory(a, eng, const_cast<float*>(x.data()))},
                                        {DNNL_ARG_WEIGHTS, memory(b, eng, const_cast<float*>(w.data()))},
                                        {DNNL_ARG_DST, memory(c, eng, out.data())}});
      stream.wait();
    } else if (op == 0) {
      anvil::ops::gemm(prec, Transpose::kNo, Transpose::kYes, s.M, s.N, s.K, 1.0f, x.data(), s.K, w.data(), s.K, 0.0f,
                       out.data(), s.N);
    } else if (op == 1) {
      anvil::ops::gemm(prec, Transpose::kNo, Transpose::kNo, s.M, s.K, s.N, 1.0f, dy.data(), s.N, w.data(), s.K, 0.0f,
                       out.data(), s.K);
    } else {
      anvil::ops::gemm(prec, Transpose::kYes, Transpose::kNo, s.N, s.K, s.M, 1.0f, dy.data(), s.N, x.data(), s.K, 1.0f,
                       out.data(), s.K);
    }
  };
  run();  // warm-up: primitive creation, page faults
  for (auto _ : state) run();
  const double flops = 2.0 * s.M * s.K * s.N;
  state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  const double ceiling = (prec == Precision::kF32 ? kCeilingF32PerCore : kCeilingBf16PerCore) * threads;
  state.counters["vs_ceiling"] = benchmark::Counter(flops / 1e9 / ceiling, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(op == 0 ? "Y=XW^T" : op == 1 ? "dX=dYW" : "dW+=dY^TX") + " M=" + std::to_string(s.M) +
                 " K=" + std::to_string(s.K) + " N=" + std::to_string(s.N) + " threads=" + std::to_string(threads));
}

void BM_GemmF32(benchmark::State& st) { gemm_case(st, Precision::kF32, false); }
void BM_GemmBf16(benchmark::State& st) { gemm_case(st, Precision::kBF16, false); }
void BM_GemmF32MatmulPrimitive(benchmark::State& st) { gemm_case(st, Precision::kF32, true); }

void gemm_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int shape = 0; shape < 4; ++shape)
      for (int op = 0; op < 3; ++op) b->Args({shape, op, threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
}

BENCHMARK(BM_GemmF32)->Apply(gemm_args);
BENCHMARK(BM_GemmBf16)->Apply(gemm_args);
BENCHMARK(BM_GemmF32MatmulPrimitive)->Apply([](benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int shape = 0; shape < 4; ++shape) b->Args({shape, 0, threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
});

// Small shapes: the per-call overhead the model pays many times per step (one head's projections).
void BM_GemmSmallF32(benchmark::State& state) {
  const int64_t n = state.range(0);
  omp_set_num_threads(2);
  const auto a = random_buffer(n * n), b = random_buffer(n * n);
  std::vector<float> c(n * n);
  for (auto _ : state)
    anvil::ops::gemm(Precision::kF32, Transpose::kNo, Transpose::kYes, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                     c.data(), n);
  state.counters["FLOPS"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_GemmSmallF32)->Arg(16)->Arg(64)->Arg(128)->UseRealTime();

}  // namespace
