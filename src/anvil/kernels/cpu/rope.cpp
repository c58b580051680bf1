// Rotary position embeddings (anvil::ops), spec 3.2: half-split pairs (x_i, x_{i+D/2}) as HF LLaMA, or
// interleaved pairs (x_2i, x_2i+1) as Meta; angle(t, i) = (pos0 + t) theta^(-2i/D) computed in fp32 as HF.
// Backward applies the inverse rotation (the transpose of the rotation) to the gradient, in place.
#include <cmath>

#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// Rotates the H heads of one row at position t; sign = +1 rotates by the angle, -1 by its negation.
void rope_row(float* row, const float* cos, const float* sin, int64_t t, int64_t H, int64_t D, RopeStyle style,
              float sign) {
  const int64_t half = D / 2;
  const float* c = cos + t * half;
  const float* s = sin + t * half;
  for (int64_t h = 0; h < H; ++h) {
    float* v = row + h * D;
    if (style == RopeStyle::kHalfSplit) {
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half], sn = sign * s[i];
        v[i] = a * c[i] - b * sn;
        v[i + half] = a * sn + b * c[i];
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1], sn = sign * s[i];
        v[2 * i] = a * c[i] - b * sn;
        v[2 * i + 1] = a * sn + b * c[i];
      }
    }
  }
}

void rope_apply(float* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                int64_t row_stride, RopeStyle style, float sign) {
  const int64_t stride = row_stride ? row_stride : H * D;
  // Small calls (decode: one token of one sequence) never enter an OpenMP region: even a region whose
  // if() clause is false starts a team, which costs more than rotating a few heads.
  if (B * T * H * D <= kParallelMin) {
    for (int64_t row = 0; row < B * T; ++row) rope_row(x + row * stride, cos, sin, row % T, H, D, style, sign);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < B * T; ++row) rope_row(x + row * stride, cos, sin, row % T, H, D, style, sign);
}

}  // namespace

void rope_table(float* cos, float* sin, int64_t T, int64_t D, float theta, int64_t pos0) {
  const int64_t half = D / 2;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(D));
      const float angle = static_cast<float>(pos0 + t) * inv_freq;
      cos[t * half + i] = std::cos(angle);
      sin[t * half + i] = std::sin(angle);
    }
  }
}

void rope_forward(float* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                  int64_t row_stride, RopeStyle style) {
  rope_apply(x, cos, sin, B, T, H, D, row_stride, style, 1.0f);
}

void rope_backward(float* dx, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                   int64_t row_stride, RopeStyle style) {
  rope_apply(dx, cos, sin, B, T, H, D, row_stride, style, -1.0f);
}

// Press et al.: for n a power of two, m_h = 2^(-8(h+1)/n); otherwise the 2^floor(log2 n) slopes followed
// by the even-indexed slopes of 2p (spec 3.1).
void alibi_slopes(float* slopes, int64_t H) {
  int64_t p = 1;
  while (p * 2 <= H) p *= 2;
  for (int64_t h = 0; h < p; ++h) slopes[h] = static_cast<float>(std::exp2(-8.0 * static_cast<double>(h + 1) / p));
  for (int64_t i = 0; i < H - p; ++i) {
    slopes[p + i] = static_cast<float>(std::exp2(-8.0 * static_cast<double>(2 * i + 1) / (2 * p)));
  }
}

}  // namespace anvil::ops
