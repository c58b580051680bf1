// anvil::ops::gemm on oneDNN (2.6). fp32: dnnl_sgemm (row-major, jit avx512 kernels). bf16: the matmul
// primitive with bf16 source/weights and f32 destination; transposes are expressed as strides, alpha as
// an output scale, beta as a sum post-op (absent when beta == 0, so C's old contents are never read).
// Primitives are reused through oneDNN's own (thread-safe) primitive cache. Products under
// kSerialMaxFlops run on the calling thread only (a fork/join costs more than they do). Measurements in
// docs/kernels/gemm.md.
#include <omp.h>

#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/parallel.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

using dnnl::memory;

constexpr double kSerialMaxFlops = 4.0e6;  // ~20 us on one core: below this, one thread

// Sets the calling thread's OpenMP team size (which oneDNN reads per call) for one scope.
class ScopedThreads {
 public:
  explicit ScopedThreads(bool serial) : saved_(omp_get_max_threads()), active_(serial && saved_ > 1) {
    if (active_) omp_set_num_threads(1);
  }
  ~ScopedThreads() {
    if (active_) omp_set_num_threads(saved_);
  }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int saved_;
  bool active_;
};

bool small(int64_t M, int64_t N, int64_t K) { return 2.0 * M * N * K < kSerialMaxFlops; }

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Strides (row, col) of op(X) for X stored row-major with row stride ld.
memory::dims op_strides(Transpose t, int64_t ld) {
  return t == Transpose::kNo ? memory::dims{ld, 1} : memory::dims{1, ld};
}

// C = alpha op(A) op(B) + beta C with A, B already bf16.
void matmul_bf16(Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
                 int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  try {
    const memory::desc a_md({M, K}, memory::data_type::bf16, op_strides(ta, lda));
    const memory::desc b_md({K, N}, memory::data_type::bf16, op_strides(tb, ldb));
    const memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
    dnnl::primitive_attr attr;
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (beta != 0.0f) {
      dnnl::post_ops po;
      po.append_sum(beta);
      attr.set_post_ops(po);
    }
    const dnnl::engine& eng = cpu_engine();
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, eng);
    const dnnl::matmul prim(pd);
    dnnl::stream stream(eng);
    memory a_mem(a_md, eng, const_cast<bf16_t*>(A));
    memory b_mem(b_md, eng, const_cast<bf16_t*>(B));
    memory c_mem(c_md, eng, C);
    prim.execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    stream.wait();
  } catch (const dnnl::error& e) {
    ANVIL_CHECK(false, "[ops.gemm_bf16] oneDNN matmul failed ({}) for M={} N={} K={} lda={} ldb={} ldc={}", e.what(), M,
                N, K, lda, ldb, ldc);
  }
}

// Copies op-layout X (rows x cols as stored, row stride ld) into a packed bf16 buffer (row stride cols).
std::unique_ptr<bf16_t[]> pack_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld) {
  std::unique_ptr<bf16_t[]> out(new bf16_t[static_cast<size_t>(rows * cols)]);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMinElems)
  for (int64_t r = 0; r < rows; ++r) f32_to_bf16(out.get() + r * cols, x + r * ld, cols);
  return out;
}

}  // namespace

void gemm(Precision prec, Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const ScopedThreads threads(small(M, N, K));
  if (prec == Precision::kF32) {
    const dnnl_status_t st = dnnl_sgemm(ta == Transpose::kNo ? 'N' : 'T', tb == Transpose::kNo ? 'N' : 'T', M,
                                        N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    ANVIL_CHECK(st == dnnl_success, "[ops.gemm] dnnl_sgemm failed ({}) for M={} N={} K={}", static_cast<int>(st),
                M, N, K);
    return;
  }
  // Stored shapes: A is (M,K) or, transposed, (K,M); same for B with (K,N) / (N,K).
  const int64_t a_rows = ta == Transpose::kNo ? M : K, a_cols = ta == Transpose::kNo ? K : M;
  const int64_t b_rows = tb == Transpose::kNo ? K : N, b_cols = tb == Transpose::kNo ? N : K;
  const auto a16 = pack_bf16(A, a_rows, a_cols, lda);
  const auto b16 = pack_bf16(B, b_rows, b_cols, ldb);
  matmul_bf16(ta, tb, M, N, K, alpha, a16.get(), a_cols, b16.get(), b_cols, beta, C, ldc);
}

void gemm_bf16(Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const ScopedThreads threads(small(M, N, K));
  matmul_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace anvil::ops
