// GELU (tanh "gelu_new" and exact erf) and SwiGLU, forward and backward (anvil::ops).
// Work goes in kChunk-element pieces: polynomial parts as OpenMP simd loops, exp and erf through simd.h.
// Formulas match ref_dense.cpp: gelu'(x) = 0.5(1+t) + 0.5x(1-t^2) k(1+3c x^2), t = tanh(k(x+cx^3)),
// evaluated through s = 1+t = 2/(1+exp(-2u)) and 1-t^2 = s(2-s), which keep full relative precision in
// the far negative tail where 1+t itself would cancel. The erf form takes 1 + erf(z) from
// simd::one_plus_erf_inplace, which returns erfc(-z) in the negative tail for the same reason.
#include <algorithm>
#include <cmath>

#include "anvil/kernels/cpu/parallel.h"
#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoeff = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// Calls body(i0, len) on consecutive kChunk pieces of [0, n), in parallel when n is large.
template <typename Body>
void for_chunks(int64_t n, Body body) {
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelMinElems)
  for (int64_t c = 0; c < n_chunks; ++c) body(c * kChunk, std::min(kChunk, n - c * kChunk));
}

// GELU of one piece of at most kChunk elements.
void gelu_chunk(float* y, const float* x, int64_t len, GeluApprox approx) {
  if (approx == GeluApprox::kTanh) {
    float t[kChunk];
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) t[i] = -2.0f * kSqrt2OverPi * (x[i] + kGeluCoeff * x[i] * x[i] * x[i]);
    simd::exp_inplace(t, len);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) y[i] = x[i] / (1.0f + t[i]);  // 0.5 x (1 + tanh u)
  } else {
    float s[kChunk];
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) s[i] = x[i] * kInvSqrt2;
    simd::one_plus_erf_inplace(s, len);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) y[i] = 0.5f * x[i] * s[i];
  }
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, GeluApprox approx) {
  for_chunks(n, [&](int64_t i0, int64_t len) { gelu_chunk(out + i0, inp + i0, len, approx); });
}

void gelu_forward_serial(float* out, const float* inp, int64_t n, GeluApprox approx) {
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) gelu_chunk(out + i0, inp + i0, std::min(kChunk, n - i0), approx);
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, GeluApprox approx) {
  for_chunks(n, [&](int64_t i0, int64_t len) {
    const float* x = inp + i0;
    const float* dy = dout + i0;
    float* dx = dinp + i0;
    float t[kChunk];
    if (approx == GeluApprox::kTanh) {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) t[i] = -2.0f * kSqrt2OverPi * (x[i] + kGeluCoeff * x[i] * x[i] * x[i]);
      simd::exp_inplace(t, len);
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) {
        const float s = 2.0f / (1.0f + t[i]);  // 1 + tanh u
        const float d = 0.5f * s + 0.5f * x[i] * s * (2.0f - s) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCoeff * x[i] * x[i]);
        dx[i] = d * dy[i];
      }
    } else {
      float s[kChunk];
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) {
        t[i] = -0.5f * x[i] * x[i];
        s[i] = x[i] * kInvSqrt2;
      }
      simd::exp_inplace(t, len);
      simd::one_plus_erf_inplace(s, len);
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) dx[i] = (0.5f * s[i] + x[i] * kInvSqrt2Pi * t[i]) * dy[i];
    }
  });
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  for_chunks(n, [&](int64_t i0, int64_t len) {
    const float* g = gate + i0;
    const float* u = up + i0;
    float e[kChunk];
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) e[i] = -g[i];
    simd::exp_inplace(e, len);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) out[i0 + i] = g[i] / (1.0f + e[i]) * u[i];
  });
}

void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up, const float* dout, int64_t n) {
  for_chunks(n, [&](int64_t i0, int64_t len) {
    const float* g = gate + i0;
    const float* u = up + i0;
    const float* dy = dout + i0;
    float e[kChunk];
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) e[i] = -g[i];
    simd::exp_inplace(e, len);
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) {
      const float s = 1.0f / (1.0f + e[i]);
      dgate[i0 + i] = dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
      dup[i0 + i] = dy[i] * g[i] * s;
    }
  });
}

}  // namespace anvil::ops
