// Linear layers for decode-sized batches: each weight is streamed from memory once for all rows (register-
// blocked, AVX-512 where built for it), threads split the output features. Batch-1 decode is memory-bound
// and oneDNN's sgemm at M=1 repacks its operands on every call, so rows <= kSmallLinearMaxRows take this
// path, more use model::linear_forward (ops::gemm); same math: y = x W (+ b) in either layout.
// Batch invariant: row n's output depends only on row n's input, bit-identical whatever N and the other
// rows, so a sequence decodes to the same logits alone or batched with up to 15 others. The fused forms
// (several linears, + residual, the SwiGLU MLP) each run in ONE OpenMP region and give the same bits as the
// unfused sequence of small_linear / ops::add / ops::swiglu_forward calls.
#pragma once

#include <cstdint>
#include <span>

#include "anvil/model/layers.h"

namespace anvil::infer {

inline constexpr int64_t kSmallLinearMaxRows = 16;

// out (N, lin.out) at row stride ldo = inp (N, lin.in) at row stride ldi @ W (+ b), N <= kSmallLinearMaxRows.
void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N);

// One linear of a small_linears call: out (N, lin->out) at row stride ldo.
struct LinearOutput {
  const model::Linear* lin = nullptr;
  float* out = nullptr;
  int64_t ldo = 0;
};

// small_linear of several linears reading the same input (LLaMA's q/k/v projections), in one parallel
// region: the threads split the output groups of all of them by weight bytes.
void small_linears(std::span<const LinearOutput> outs, const float* inp, int64_t ldi, int64_t N);

// x (N, lin.out) at row stride ldx += inp @ W (+ b): small_linear then ops::add(x, x, y), in one region.
void small_linear_add(const model::Linear& lin, float* x, int64_t ldx, const float* inp, int64_t ldi, int64_t N);

// The LLaMA MLP of a decode batch with its residual, in one parallel region (a barrier between the halves):
//   act = silu(inp @ gate) * (inp @ up)      (N, F) at row stride lda
//   x  += act @ down                         (N, C) at row stride ldx
// bit-identical to small_linear(gate), small_linear(up), ops::swiglu_forward, small_linear(down), ops::add.
struct SwigluMlp {
  const model::Linear& gate;  // (C, F)
  const model::Linear& up;    // (C, F), gate's layout
  const model::Linear& down;  // (F, C)
  const float* inp = nullptr;
  int64_t ldi = 0;
  float* act = nullptr;
  int64_t lda = 0;
  float* x = nullptr;
  int64_t ldx = 0;
  int64_t N = 0;
};
void small_swiglu_mlp(const SwigluMlp& m);

}  // namespace anvil::infer
