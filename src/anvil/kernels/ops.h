// The one list of compute ops. Every op here has two implementations with the same signature:
//   anvil::ops  — the fast one, in kernels/cpu/ (OpenMP, AVX-512, oneDNN GEMM); later kernels/cuda/
//   anvil::ref  — the plain one, in kernels/ref/ (kernels/ref/ref.h), single-threaded loops, the oracle
// tests/kernels checks each fast op against its reference on random shapes, including odd sizes.
//
// Conventions (llm.c style): raw pointers into contiguous row-major fp32 buffers unless a stride is
// given; single-letter dims only here: N rows (= B*T), C channels, V vocab, H heads, D head dim.
// Every backward states whether it writes (=) or accumulates (+=) each output.
// Pointers to the same buffer are allowed only where a comment says so.
#pragma once

#include <cstddef>
#include <cstdint>

#include "anvil/core/dtype.h"

namespace anvil {

enum class Transpose : uint8_t { kNo, kYes };
// kF32: fp32 inputs, fp32 accumulation. kBF16: inputs rounded to bf16, products accumulated in fp32
// (AVX-512 BF16 dot products) — the "compute" half of mixed precision; outputs stay fp32.
enum class Precision : uint8_t { kF32, kBF16 };
enum class GeluApprox : uint8_t { kTanh, kErf };  // kTanh = GPT-2 "gelu_new"; kErf = exact nn.GELU()
enum class RopeStyle : uint8_t { kHalfSplit, kInterleaved };  // HF/NeoX (x_i, x_{i+D/2}) or Meta (x_2i, x_2i+1)

// Shapes and masking of one causal self-attention call.
// q is (B, T, H, D), k and v are (B, T, Hkv, D) with H % Hkv == 0 (grouped-query attention: head h
// reads kv head h / (H / Hkv)). Each of q, k, v may live inside a wider row (e.g. a fused qkv
// buffer): token (b, t) starts at ptr + (b*T + t) * *_row_stride; heads are contiguous within a row.
struct AttentionDims {
  int64_t B = 0, T = 0, H = 0, Hkv = 0, D = 0;
  int64_t q_row_stride = 0, k_row_stride = 0, v_row_stride = 0;  // in elements; 0 = packed (H*D or Hkv*D)
  float scale = 0.0f;             // 0 = 1/sqrt(D)
  int64_t window = 0;             // 0 = full causal; W > 0: key j visible to query i iff i-W < j <= i (HF)
  const float* alibi_slopes = nullptr;  // (H) or null; adds slope_h * (j - i) to the score
  // Attention-probability dropout (training): P[b,h,i,j] is kept iff dropout_keep(dropout_seed,
  // ((b*H + h)*T + i)*T + j) (kernels/dropout_hash.h) and scaled by 1/(1-p); lse stays that of the
  // undropped softmax. The backward must get the same p and seed. p = 0: no dropout, no cost.
  float dropout_p = 0.0f;
  uint64_t dropout_seed = 0;
};

namespace ops {

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
void f32_to_f16(f16_t* out, const float* in, int64_t n);              // round to nearest even, inf past 65504
// Symmetric int8 of one row: *scale = max|x| / 127 (0 for an all-zero row), q[i] = round(x[i] / *scale)
// (nearest, ties away from zero), so |x[i] - q[i] * *scale| <= *scale / 2.
void quantize_row_i8(int8_t* q, float* scale, const float* x, int64_t n);

// ---- activations -----------------------------------------------------------------------------
void gelu_forward(float* out, const float* inp, int64_t n, GeluApprox approx);
// gelu_forward's arithmetic (the same bits, element by element) on the calling thread only: for callers
// already inside a parallel region (the engine's fused GELU MLP).
void gelu_forward_serial(float* out, const float* inp, int64_t n, GeluApprox approx);
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

}  // namespace ops
}  // namespace anvil

// ---- attention over a KV cache (inference) --------------------------------------------------------
namespace anvil {

// T_new new queries of ONE sequence, at absolute positions pos0 .. pos0+T_new-1, attend to that
// sequence's cached keys/values at positions 0 .. pos0+T_new-1 (the new ones already written):
// query i sees key j iff j <= i (and i-W < j when window W > 0, HF), GQA as in AttentionDims, ALiBi
// adds slope_h * (j - i). q (T_new, H, D) at row stride q_row_stride; the caches hold kv head hk of
// position p at k_cache + p * kv_row_stride + hk * kv_head_stride (by default (n_pos, Hkv, D) packed;
// KvCache keeps each head's positions contiguous instead); out (T_new, H, D) packed.
struct DecodeAttentionDims {
  int64_t T_new = 0, pos0 = 0, H = 0, Hkv = 0, D = 0;
  int64_t q_row_stride = 0;    // in elements; 0 = H*D
  int64_t kv_row_stride = 0;   // in elements; 0 = Hkv*D
  int64_t kv_head_stride = 0;  // in elements; 0 = D
  float scale = 0.0f;         // 0 = 1/sqrt(D)
  int64_t window = 0;
  const float* alibi_slopes = nullptr;  // (H) or null
  // int8 caches only: key row (position j, kv head hk) holds k[e] * k_scale[j * scale_row_stride +
  // hk * scale_head_stride] (ops::quantize_row_i8's scale; v likewise with v_scale).
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  int64_t scale_row_stride = 0;   // in floats; 0 = Hkv
  int64_t scale_head_stride = 0;  // in floats; 0 = 1
};

namespace ops {
// Parallel over (new query, head); keys streamed in chunks with an online softmax (no allocation).
void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const DecodeAttentionDims& dims);
// The same over an f16 cache (keys and values widened to fp32 as they are read; the arithmetic is fp32).
void attention_decode(float* out, const float* q, const f16_t* k_cache, const f16_t* v_cache,
                      const DecodeAttentionDims& dims);
// And over an int8 cache with a scale per row (dims.k_scale / v_scale must be set).
void attention_decode(float* out, const float* q, const int8_t* k_cache, const int8_t* v_cache,
                      const DecodeAttentionDims& dims);
}  // namespace ops
}  // namespace anvil
