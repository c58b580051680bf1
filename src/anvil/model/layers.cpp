// Linear and Norm forward/backward on top of ops::gemm and the norm kernels (see layers.h).
// Conv1D (in, out):  y = x W      dx = dy W^T    dW = x^T dy
// Linear (out, in):  y = x W^T    dx = dy W      dW = dy^T x
#include "anvil/model/layers.h"

namespace anvil::model {
namespace {

// dbias(C) += sum over N rows of dout (row stride ldd).
void bias_backward_strided(float* db, const float* dout, int64_t ldd, int64_t N, int64_t C) {
  if (ldd == C) {
    ops::bias_backward(db, dout, N, C);
    return;
  }
  for (int64_t n = 0; n < N; ++n) ops::add_inplace(db, dout + n * ldd, C);
}

bool use_bf16_buffers(const LinearCall& call) {
  return call.precision == Precision::kBF16 && call.params16 != nullptr && call.a16 != nullptr;
}

const bf16_t* weight16(const LinearCall& call, const Linear& lin) { return call.params16 + (lin.w - call.params_base); }

}  // namespace

void to_bf16_rows(bf16_t* dst, const float* src, int64_t rows, int64_t cols, int64_t ld) {
  if (ld == cols) {
    ops::f32_to_bf16(dst, src, rows * cols);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = f32_to_bf16(src[r * ld + c]);
}

void linear_forward(const LinearCall& call, const Linear& lin, float* out, int64_t ldo, const float* inp,
                    int64_t ldi) {
  if (use_bf16_buffers(call)) {
    ScopedKernelTime t(*call.timer, KernelKind::kGemm);
    to_bf16_rows(call.a16, inp, call.N, lin.in, ldi);
    const bf16_t* w16 = weight16(call, lin);
    if (lin.layout == WeightLayout::kInOut)
      ops::gemm_bf16(Transpose::kNo, Transpose::kNo, call.N, lin.out, lin.in, 1.0f, call.a16, lin.in, w16, lin.out,
                     0.0f, out, ldo);
    else
      ops::gemm_bf16(Transpose::kNo, Transpose::kYes, call.N, lin.out, lin.in, 1.0f, call.a16, lin.in, w16, lin.in,
                     0.0f, out, ldo);
  } else {
    ScopedKernelTime t(*call.timer, KernelKind::kGemm);
    if (lin.layout == WeightLayout::kInOut)
      ops::gemm(call.precision, Transpose::kNo, Transpose::kNo, call.N, lin.out, lin.in, 1.0f, inp, ldi, lin.w,
                lin.out, 0.0f, out, ldo);
    else
      ops::gemm(call.precision, Transpose::kNo, Transpose::kYes, call.N, lin.out, lin.in, 1.0f, inp, ldi, lin.w,
                lin.in, 0.0f, out, ldo);
  }
  if (lin.b) {
    ScopedKernelTime t(*call.timer, KernelKind::kOther);
    if (ldo == lin.out) ops::add_bias(out, lin.b, call.N, lin.out);
    else
      for (int64_t n = 0; n < call.N; ++n) ops::add_inplace(out + n * ldo, lin.b, lin.out);
  }
}

void linear_backward(const LinearCall& call, const Linear& lin, float* dinp, float beta, const float* dout,
                     int64_t ldd, const float* inp, int64_t ldi) {
  if (use_bf16_buffers(call)) {
    ScopedKernelTime t(*call.timer, KernelKind::kGemm);
    to_bf16_rows(call.b16, dout, call.N, lin.out, ldd);  // dout16 (N, out)
    to_bf16_rows(call.a16, inp, call.N, lin.in, ldi);    // inp16 (N, in)
    const bf16_t* w16 = weight16(call, lin);
    const bf16_t* d16 = call.b16;
    const bf16_t* x16 = call.a16;
    if (lin.layout == WeightLayout::kInOut) {
      if (dinp)
        ops::gemm_bf16(Transpose::kNo, Transpose::kYes, call.N, lin.in, lin.out, 1.0f, d16, lin.out, w16, lin.out,
                       beta, dinp, lin.in);
      ops::gemm_bf16(Transpose::kYes, Transpose::kNo, lin.in, lin.out, call.N, 1.0f, x16, lin.in, d16, lin.out, 1.0f,
                     lin.dw, lin.out);
    } else {
      if (dinp)
        ops::gemm_bf16(Transpose::kNo, Transpose::kNo, call.N, lin.in, lin.out, 1.0f, d16, lin.out, w16, lin.in, beta,
                       dinp, lin.in);
      ops::gemm_bf16(Transpose::kYes, Transpose::kNo, lin.out, lin.in, call.N, 1.0f, d16, lin.out, x16, lin.in, 1.0f,
                     lin.dw, lin.in);
    }
  } else {
    ScopedKernelTime t(*call.timer, KernelKind::kGemm);
    const Precision p = call.precision;
    if (lin.layout == WeightLayout::kInOut) {
      if (dinp)
        ops::gemm(p, Transpose::kNo, Transpose::kYes, call.N, lin.in, lin.out, 1.0f, dout, ldd, lin.w, lin.out, beta,
                  dinp, lin.in);
      ops::gemm(p, Transpose::kYes, Transpose::kNo, lin.in, lin.out, call.N, 1.0f, inp, ldi, dout, ldd, 1.0f, lin.dw,
                lin.out);
    } else {
      if (dinp)
        ops::gemm(p, Transpose::kNo, Transpose::kNo, call.N, lin.in, lin.out, 1.0f, dout, ldd, lin.w, lin.in, beta,
                  dinp, lin.in);
      ops::gemm(p, Transpose::kYes, Transpose::kNo, lin.out, lin.in, call.N, 1.0f, dout, ldd, inp, ldi, 1.0f, lin.dw,
                lin.in);
    }
  }
  if (lin.db) {
    ScopedKernelTime t(*call.timer, KernelKind::kOther);
    bias_backward_strided(lin.db, dout, ldd, call.N, lin.out);
  }
}

void norm_forward(KernelTimer& timer, const Norm& norm, float* out, float* mean, float* rstd, const float* inp,
                  int64_t N) {
  ScopedKernelTime t(timer, KernelKind::kNorm);
  if (norm.rms) ops::rmsnorm_forward(out, rstd, inp, norm.w, N, norm.C, norm.eps);
  else ops::layernorm_forward(out, mean, rstd, inp, norm.w, norm.b, N, norm.C, norm.eps);
}

void norm_backward(KernelTimer& timer, const Norm& norm, float* dinp, const float* dout, const float* inp,
                   const float* mean, const float* rstd, int64_t N) {
  ScopedKernelTime t(timer, KernelKind::kNorm);
  if (norm.rms) ops::rmsnorm_backward(dinp, norm.dw, dout, inp, norm.w, rstd, N, norm.C);
  else ops::layernorm_backward(dinp, norm.dw, norm.db, dout, inp, norm.w, mean, rstd, N, norm.C);
}

}  // namespace anvil::model
