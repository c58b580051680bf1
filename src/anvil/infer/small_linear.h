// Linear layers for decode-sized batches (a few rows): each weight row is streamed from memory once and
// used for every input row, split over threads by output features. Batch-1 decode is memory-bound, and
// oneDNN's sgemm at M=1 packs its operands into fresh buffers on every call (measured: a third of decode
// time in memset + page faults), so rows <= kSmallLinearMaxRows take this path; more rows use
// model::linear_forward (ops::gemm). Same math as model::linear_forward: y = x W (+ b) in either layout.
#pragma once

#include <cstdint>

#include "anvil/model/layers.h"

namespace anvil::infer {

inline constexpr int64_t kSmallLinearMaxRows = 8;

// out (N, lin.out) at row stride ldo = inp (N, lin.in) at row stride ldi @ W (+ b), N <= kSmallLinearMaxRows.
void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N);

}  // namespace anvil::infer
