// The reference (oracle) versions of every op in ops.h: same signatures, in namespace anvil::ref.
// Plain single-threaded loops, double accumulation where it helps; written to be obviously correct,
// not fast. tests/kernels compares each anvil::ops function against its twin here.
// Keep this list in step with ops.h (the test harness calls both by the same names).
#pragma once

#include "anvil/kernels/ops.h"

namespace anvil {
namespace ref {

// ---- GEMM ----------------------------------------------------------------------------------------
// C(M,N) = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T; op(A) is (M,K), op(B) (K,N).
// lda/ldb/ldc are the row strides of A, B, C as stored. beta = 0 ignores C's old contents (NaN too).
void gemm(Precision prec, Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// Same with operands already in bf16 (e.g. a weight converted once per optimizer step).
void gemm_bf16(Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);

// ---- element-wise ------------------------------------------------------------------------------
void add(float* out, const float* a, const float* b, int64_t n);      // out = a + b (out may alias a or b)
void add_inplace(float* acc, const float* x, int64_t n);              // acc += x
void scale_inplace(float* x, float s, int64_t n);                     // x *= s
void add_bias(float* out, const float* bias, int64_t N, int64_t C);   // out(N,C) += bias(C)
void bias_backward(float* dbias, const float* dout, int64_t N, int64_t C);  // dbias(C) += sum_rows dout
void f32_to_bf16(bf16_t* out, const float* in, int64_t n);            // round to nearest even
void f32_to_f16(f16_t* out, const float* in, int64_t n);              // round to nearest even

// ---- activations -----------------------------------------------------------------------------
void gelu_forward(float* out, const float* inp, int64_t n, GeluApprox approx);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, GeluApprox approx);  // dinp = (may alias dout)
// SwiGLU: out = silu(gate) * up, elementwise over n.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up, const float* dout, int64_t n);  // =

// ---- normalisation -----------------------------------------------------------------------------
// LayerNorm over the last dim C of inp (N,C); mean, rstd (N) saved for backward. bias may be null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps);
// dinp +=, dweight +=, dbias += (dbias may be null).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);
// RMSNorm: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C);  // dinp +=, dweight +=

// ---- softmax / cross-entropy -------------------------------------------------------------------
void softmax_forward(float* out, const float* inp, int64_t N, int64_t C);  // row-wise; out may alias inp
// Token cross-entropy with torch semantics (label smoothing eps over all V classes, ignore_index).
// Writes losses(N) (0 for ignored rows) and lse(N) = logsumexp of each row; returns the number of
// non-ignored rows. The caller reduces (mean over valid rows = sum(losses) / n_valid).
// Every target is ignore_index or in [0, V) (validated upstream; anything else is a bug: ANVIL_CHECK).
int64_t cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                              int64_t N, int64_t V, float label_smoothing, int32_t ignore_index);
// dlogits = dloss * d(loss_i)/d(logits_i) for each valid row, 0 for ignored rows (=).
// dlogits may alias logits (in place, saves a (N,V) buffer). dloss is the upstream gradient of each
// row's loss, e.g. 1/n_valid for a mean.
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            int64_t N, int64_t V, float label_smoothing, int32_t ignore_index, float dloss);

// ---- embeddings, positions ---------------------------------------------------------------------
// out(N,C) = table[ids[i]] (+ pos_table[i % T] if pos_table, T = the sequence length).
void embedding_forward(float* out, const int32_t* ids, const float* table, const float* pos_table, int64_t N,
                       int64_t T, int64_t C);
// dtable +=, dpos_table += (may be null). Deterministic for a given thread count.
void embedding_backward(float* dtable, float* dpos_table, const float* dout, const int32_t* ids, int64_t N,
                        int64_t T, int64_t C);
// cos/sin tables (T, D/2) for positions [pos0, pos0+T): angle(t, i) = (pos0 + t) * theta^(-2i/D).
void rope_table(float* cos, float* sin, int64_t T, int64_t D, float theta, int64_t pos0);
// Rotates x (B, T, H, D), row stride `row_stride` (0 = H*D), in place, by the table angles.
// rope_backward applies the inverse rotation to the gradient in place.
void rope_forward(float* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                  int64_t row_stride, RopeStyle style);
void rope_backward(float* dx, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                   int64_t row_stride, RopeStyle style);
// ALiBi slopes for H heads (Press et al., including the non-power-of-two rule).
void alibi_slopes(float* slopes, int64_t H);

// ---- attention -----------------------------------------------------------------------------------
// Fused causal attention (flash-attention style: tiles of keys, online softmax; never a full T x T
// score matrix per head). out (B, T, H, D) packed; lse (B, H, T) saved for backward.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& dims);
// dq, dk, dv (=) use the same row strides as q, k, v (so they may point into one fused dqkv buffer);
// exactly their own elements are written (every one of them), nothing else in a fused buffer.
// Parallel over (B, Hkv); math and tiling in docs/kernels/attention.md.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const float* q, const float* k, const float* v, const AttentionDims& dims);

// ---- regularisation ----------------------------------------------------------------------------
// Inverted dropout in place: x *= mask / (1-p), mask bits from a counter-based hash of (seed, index),
// so the result is independent of thread count. mask (n bytes) is saved for backward.
void dropout_forward(float* x, uint8_t* mask, int64_t n, float p, uint64_t seed);
void dropout_backward(float* dx, const uint8_t* mask, int64_t n, float p);  // dx *= mask / (1-p), in place

}  // namespace ref
}  // namespace anvil

// ---- attention over a KV cache (inference): see ops.h DecodeAttentionDims -------------------------
namespace anvil::ref {
void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const DecodeAttentionDims& dims);
void attention_decode(float* out, const float* q, const f16_t* k_cache, const f16_t* v_cache,
                      const DecodeAttentionDims& dims);
void attention_decode(float* out, const float* q, const int8_t* k_cache, const int8_t* v_cache,
                      const DecodeAttentionDims& dims);
}  // namespace anvil::ref
