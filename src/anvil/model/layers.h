// The two parameterised building blocks every transformer layer is made of: Linear (HF Conv1D layout
// (in, out) for GPT-2, nn.Linear layout (out, in) for LLaMA) and Norm (LayerNorm with optional bias, or
// RMSNorm). Forward and backward side by side; each says which outputs it writes (=) or accumulates (+=).
// Inputs/outputs are row-major (N, width) with an explicit row stride so they can live in fused buffers.
#pragma once

#include <cstdint>

#include "anvil/kernels/ops.h"
#include "anvil/model/kernel_timer.h"

namespace anvil::model {

enum class WeightLayout : uint8_t { kInOut, kOutIn };  // Conv1D (in, out) | nn.Linear (out, in)

struct Linear {
  const float* w = nullptr;
  const float* b = nullptr;  // (out) or null
  float* dw = nullptr;
  float* db = nullptr;
  int64_t in = 0, out = 0;
  WeightLayout layout = WeightLayout::kOutIn;
};

// How to run a Linear. For Precision::kBF16 with planned bf16 buffers (a16, b16, params16 non-null) the
// weight comes from params16, a bf16 copy of the flat parameter buffer made once per step, and inputs
// are rounded into a16/b16 (each N * max width); otherwise ops::gemm(precision) rounds internally.
struct LinearCall {
  Precision precision = Precision::kF32;
  KernelTimer* timer = nullptr;
  int64_t N = 0;  // rows
  const float* params_base = nullptr;  // the flat fp32 parameter buffer ...
  const bf16_t* params16 = nullptr;    // ... and its bf16 copy (same offsets)
  bf16_t* a16 = nullptr;
  bf16_t* b16 = nullptr;
};

// dst (rows, cols) packed = bf16(src (rows, cols) at row stride ld).
void to_bf16_rows(bf16_t* dst, const float* src, int64_t rows, int64_t cols, int64_t ld);

// out (N, out) at row stride ldo  =  inp (N, in) at row stride ldi  @ W  (+ b).
void linear_forward(const LinearCall& call, const Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi);
// dinp (N, in) = dout @ W^T when beta == 0, += when beta == 1; dw += inp^T dout; db += sum_rows dout.
// dinp may be null (no input gradient wanted).
void linear_backward(const LinearCall& call, const Linear& lin, float* dinp, float beta, const float* dout, int64_t ldd,
                     const float* inp, int64_t ldi);

struct Norm {
  const float* w = nullptr;
  const float* b = nullptr;  // LayerNorm bias or null
  float* dw = nullptr;
  float* db = nullptr;
  bool rms = false;  // RMSNorm (no mean, no bias)
  float eps = 1e-5f;
  int64_t C = 0;
};

// out (N, C) =, mean (N) = (unused for RMSNorm, may be null), rstd (N) =.
void norm_forward(KernelTimer& timer, const Norm& norm, float* out, float* mean, float* rstd, const float* inp,
                  int64_t N);
// dinp +=, dw +=, db +=.
void norm_backward(KernelTimer& timer, const Norm& norm, float* dinp, const float* dout, const float* inp,
                   const float* mean, const float* rstd, int64_t N);

}  // namespace anvil::model
