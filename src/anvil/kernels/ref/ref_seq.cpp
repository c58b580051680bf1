// Reference embeddings, RoPE, ALiBi slopes and dropout: the oracle for anvil::ops.
// RoPE follows HF modeling_llama (half-split) and Meta llama (interleaved), spec 3.2; ALiBi slopes follow
// ofirpress/attention_with_linear_biases get_slopes, spec 3.1; dropout masks come from dropout_hash.h.
#include <cmath>
#include <vector>

#include "anvil/kernels/dropout_hash.h"
#include "anvil/kernels/ref/ref.h"

namespace anvil::ref {
namespace {

// Rotates the pair (a, b) by the angle whose cosine and sine are c, s (s negated rotates backwards).
void rotate(float& a, float& b, double c, double s) {
  const double x = a, y = b;
  a = static_cast<float>(x * c - y * s);
  b = static_cast<float>(x * s + y * c);
}

void rope_apply(float* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                int64_t row_stride, RopeStyle style, double sign) {
  const int64_t stride = row_stride ? row_stride : H * D;
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < H; ++h) {
        float* v = x + (b * T + t) * stride + h * D;
        for (int64_t i = 0; i < half; ++i) {
          const double c = cos[t * half + i], s = sign * sin[t * half + i];
          if (style == RopeStyle::kHalfSplit) {
            rotate(v[i], v[i + half], c, s);
          } else {
            rotate(v[2 * i], v[2 * i + 1], c, s);
          }
        }
      }
    }
  }
}

// get_slopes_power_of_2(n) of the ALiBi reference: start * ratio^i with start = ratio = 2^(-8/n).
std::vector<double> slopes_power_of_2(int64_t n) {
  const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3.0)));
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s[i] = start * std::pow(start, static_cast<double>(i));
  return s;
}

std::vector<double> get_slopes(int64_t n) {
  const int64_t p = int64_t{1} << static_cast<int>(std::floor(std::log2(static_cast<double>(n))));
  if (p == n) return slopes_power_of_2(n);
  std::vector<double> s = slopes_power_of_2(p);
  const std::vector<double> extra = get_slopes(2 * p);
  for (int64_t i = 0; i < n - p; ++i) s.push_back(extra[2 * i]);
  return s;
}

}  // namespace

void embedding_forward(float* out, const int32_t* ids, const float* table, const float* pos_table, int64_t N,
                       int64_t T, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      out[i * C + c] = table[static_cast<int64_t>(ids[i]) * C + c] + (pos_table ? pos_table[(i % T) * C + c] : 0.0f);
    }
  }
}

void embedding_backward(float* dtable, float* dpos_table, const float* dout, const int32_t* ids, int64_t N,
                        int64_t T, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      dtable[static_cast<int64_t>(ids[i]) * C + c] += dout[i * C + c];
      if (dpos_table) dpos_table[(i % T) * C + c] += dout[i * C + c];
    }
  }
}

// inv_freq and the angle are fp32 as in HF (inv_freq = 1 / theta^(2i/D), angle = pos * inv_freq).
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
  rope_apply(x, cos, sin, B, T, H, D, row_stride, style, 1.0);
}

void rope_backward(float* dx, const float* cos, const float* sin, int64_t B, int64_t T, int64_t H, int64_t D,
                   int64_t row_stride, RopeStyle style) {
  rope_apply(dx, cos, sin, B, T, H, D, row_stride, style, -1.0);
}

void alibi_slopes(float* slopes, int64_t H) {
  const std::vector<double> s = get_slopes(H);
  for (int64_t h = 0; h < H; ++h) slopes[h] = static_cast<float>(s[h]);
}

void dropout_forward(float* x, uint8_t* mask, int64_t n, float p, uint64_t seed) {
  const uint32_t threshold = kernels_detail::dropout_threshold(p);
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = kernels_detail::dropout_keep(seed, static_cast<uint64_t>(i), threshold);
    mask[i] = keep ? 1 : 0;
    x[i] = keep ? static_cast<float>(x[i] / (1.0 - p)) : 0.0f;
  }
}

void dropout_backward(float* dx, const uint8_t* mask, int64_t n, float p) {
  for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? static_cast<float>(dx[i] / (1.0 - p)) : 0.0f;
}

}  // namespace anvil::ref
