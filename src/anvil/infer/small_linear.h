// Linear layers for decode-sized batches: each weight is streamed from memory once for all rows (register-
// blocked, AVX-512 where built for it), threads split the output features. Batch-1 decode is memory-bound
// and oneDNN's sgemm at M=1 repacks its operands on every call, so rows <= kSmallLinearMaxRows take this
// path, more use model::linear_forward (ops::gemm); same math: y = x W (+ b) in either layout.
// Batch invariant: row n's output depends only on row n's input, bit-identical whatever N and the other
// rows, so a sequence decodes to the same logits alone or batched with up to 15 others.
#pragma once

#include <cstdint>

#include "anvil/model/layers.h"

namespace anvil::infer {

inline constexpr int64_t kSmallLinearMaxRows = 16;

// out (N, lin.out) at row stride ldo = inp (N, lin.in) at row stride ldi @ W (+ b), N <= kSmallLinearMaxRows.
void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N);

}  // namespace anvil::infer
