// Element-wise ops, bias add/backward, fp32 -> bf16 / f16 rounding, int8 row quantisation and inverted
// dropout (anvil::ops).
// All are OpenMP-parallel vector loops; results do not depend on the thread count (bias_backward sums
// each column in row order inside one thread; dropout masks come from the counter hash in dropout_hash.h).
#include <algorithm>
#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "anvil/kernels/cpu/parallel.h"
#include "anvil/kernels/dropout_hash.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {

void add(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void add_inplace(float* acc, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

void scale_inplace(float* x, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void add_bias(float* out, const float* bias, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMinElems)
  for (int64_t r = 0; r < N; ++r) {
    float* o = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] += bias[c];
  }
}

// Columns are split into 64-wide blocks across threads; each block sums its rows in order.
void bias_backward(float* dbias, const float* dout, int64_t N, int64_t C) {
  constexpr int64_t kBlock = 64;
  const int64_t n_blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (N * C > kParallelMinElems)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    float acc[kBlock] = {};
    for (int64_t r = 0; r < N; ++r) {
      const float* d = dout + r * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += d[c];
    }
    for (int64_t c = c0; c < c1; ++c) dbias[c] += acc[c - c0];
  }
}

void f32_to_bf16(bf16_t* out, const float* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    __builtin_memcpy(&u, in + i, 4);
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    out[i].bits = static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
  }
}

// vcvtps2ph with round-to-nearest-even gives IEEE binary16 exactly as anvil::f32_to_f16 does (subnormals,
// overflow to inf); only a NaN's payload may differ (it stays a NaN). Callers convert rows of a few hundred
// floats (a KV-cache row), so this runs in the calling thread. (The maskz form: GCC 12's unmasked one
// trips -Wmaybe-uninitialized on its own _mm256_undefined_si256, GCC PR 105593.)
void f32_to_f16(f16_t* out, const float* in, int64_t n) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_maskz_cvtps_ph(0xFFFF, _mm512_loadu_ps(in + i), kRound));
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm256_mask_storeu_epi16(out + i, m, _mm512_maskz_cvtps_ph(m, _mm512_maskz_loadu_ps(m, in + i), kRound));
  }
#else
  for (int64_t i = 0; i < n; ++i) out[i] = anvil::f32_to_f16(in[i]);
#endif
}

void quantize_row_i8(int8_t* q, float* scale, const float* x, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float s = amax / 127.0f;
  *scale = s;
  for (int64_t i = 0; i < n; ++i)
    q[i] = s > 0.0f ? static_cast<int8_t>(std::clamp<long>(std::lround(x[i] / s), -127, 127)) : int8_t{0};
}

void dropout_forward(float* x, uint8_t* mask, int64_t n, float p, uint64_t seed) {
  const uint32_t threshold = kernels_detail::dropout_threshold(p);
  const float scale = p < 1.0f ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = kernels_detail::dropout_keep(seed, static_cast<uint64_t>(i), threshold);
    mask[i] = keep ? 1 : 0;
    x[i] = keep ? x[i] * scale : 0.0f;
  }
}

void dropout_backward(float* dx, const uint8_t* mask, int64_t n, float p) {
  const float scale = p < 1.0f ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElems)
  for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? dx[i] * scale : 0.0f;
}

}  // namespace anvil::ops
