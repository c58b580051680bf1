// The inference engine's linear layers. At load, each weight matrix is packed into panels of kPanelCols
// output features: panel p holds W[:, 48p .. 48p+47] as (in, 48) row-major, so the kernel streams the
// weights front to back, one contiguous stream per thread, and keeps 8 rows x 48 outputs in registers
// (x[n][i] broadcast; rows 9..16 run a second pass over the panel while it is in L1/L2, and larger batches
// — prefill chunks — walk the panel in blocks of 16 rows). A decode step streams every weight once for all
// its rows; prefill reuses each panel from L2 for every row block, faster than oneDNN's sgemm on the same
// shapes (which also repacks its operands on every call).
// Batch invariant: every (row, output) has its own accumulator, started at b[o] (or 0) and fed
// x[n][i] * w[i][o] in i order, so row n's output depends only on row n's input — bit-identical whatever N
// and the other rows: a token's logits are the same decoded alone, batched with other sequences, or inside
// a prefill chunk. The fused forms (several linears, + residual, the SwiGLU and GELU MLPs) each run in ONE
// OpenMP region and give the same bits as the unfused sequence of packed_linear / ops::add / the activation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "anvil/core/tensor.h"
#include "anvil/model/layers.h"

namespace anvil::infer {

inline constexpr int64_t kPanelCols = 48;  // output features per packed panel (3 AVX-512 vectors)

// A copy of a Linear's weights (either layout) and bias in panels; the last panel and the bias are padded
// with zeros to a whole panel (in * round_up(out, 48) floats).
class PackedLinear {
 public:
  PackedLinear() = default;
  explicit PackedLinear(const model::Linear& lin);

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  int64_t n_panels() const { return (out_ + kPanelCols - 1) / kPanelCols; }
  const float* panel(int64_t p) const { return floats(w_) + p * in_ * kPanelCols; }
  const float* bias() const { return b_ ? floats(b_) : nullptr; }  // n_panels() * 48 floats, or null
  int64_t bytes() const { return (in_ + (b_ ? 1 : 0)) * n_panels() * kPanelCols * int64_t{sizeof(float)}; }

 private:
  static float* floats(const std::shared_ptr<Storage>& s) { return reinterpret_cast<float*>(s->data()); }
  std::shared_ptr<Storage> w_, b_;  // zero-filled, 64-byte aligned (large ones page-aligned, huge pages)
  int64_t in_ = 0, out_ = 0;
};

// out (N, lin.out()) at row stride ldo = inp (N, lin.in()) at row stride ldi @ W (+ b), any N >= 1.
void packed_linear(const PackedLinear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N);

// One linear of a packed_linears call: out (N, lin->out()) at row stride ldo.
struct LinearOutput {
  const PackedLinear* lin = nullptr;
  float* out = nullptr;
  int64_t ldo = 0;
};

// packed_linear of several linears reading the same input (LLaMA's q/k/v projections), in one parallel
// region: the threads split the panels of all of them by weight bytes.
void packed_linears(std::span<const LinearOutput> outs, const float* inp, int64_t ldi, int64_t N);

// x (N, lin.out()) at row stride ldx += inp @ W (+ b): packed_linear then ops::add(x, x, y), in one region.
void packed_linear_add(const PackedLinear& lin, float* x, int64_t ldx, const float* inp, int64_t ldi, int64_t N);

// The rows of a fused MLP call: N rows of inp (C) at row stride ldi in, act (N, F) at row stride lda
// written, x (N, C) at row stride ldx the residual the MLP's output is added to.
struct MlpRows {
  const float* inp = nullptr;
  int64_t ldi = 0;
  float* act = nullptr;
  int64_t lda = 0;
  float* x = nullptr;
  int64_t ldx = 0;
  int64_t N = 0;
};

// The LLaMA MLP with its residual, in one parallel region (a barrier between the halves):
//   act = silu(inp @ gate) * (inp @ up)      (N, F)
//   x  += act @ down                         (N, C)
// bit-identical to packed_linear(gate), packed_linear(up), ops::swiglu_forward, packed_linear(down), ops::add.
struct SwigluMlp {
  const PackedLinear& gate;  // (C, F)
  const PackedLinear& up;    // (C, F)
  const PackedLinear& down;  // (F, C)
  MlpRows rows;
};
void packed_swiglu_mlp(const SwigluMlp& m);

// The GPT-2 MLP with its residual, in one parallel region (a barrier between the halves):
//   act = gelu(inp @ up (+ b))               (N, F)
//   x  += act @ down (+ b)                   (N, C)
// bit-identical to packed_linear(up), ops::gelu_forward, packed_linear_add(down).
struct GeluMlp {
  const PackedLinear& up;    // (C, F)
  const PackedLinear& down;  // (F, C)
  GeluApprox approx = GeluApprox::kTanh;
  MlpRows rows;
};
void packed_gelu_mlp(const GeluMlp& m);

// Which loops this build of packed_linear.cpp runs: "avx512" or "portable" (any other x86-64 or another
// architecture: the same per-output order, so the same bits, from plain loops the compiler vectorises).
const char* packed_linear_kernel();

}  // namespace anvil::infer
