// ops::attention_decode (new queries over one sequence's KV cache) against ref::attention_decode, and both
// tied to the full-sequence kernel: attention_forward over T tokens must equal a prefill of the first P
// tokens followed by one-token decode steps over the same cache (GQA, sliding window, ALiBi, long caches
// that cross the key-chunk boundary, strided q rows as in a fused qkv buffer), on every path of the fast
// kernel: key blocks of 128 (eight 16-key sub-blocks) with every tail length and windows that start
// mid-block, head sizes of 1..8 16-float chunks with partial last chunks, GQA groups walked together (and
// split past 8 heads), and the portable loop for heads over 128 floats. Every case runs again over an f16
// copy of the cache (fast vs ref on the same f16 values, and within f16 rounding of the fp32 result), and
// over copies in KvCache's layout (each kv head's positions contiguous: kv_head_stride), bit-identical.
// And over int8 copies with a scale per row (ops::quantize_row_i8), in both layouts: fast vs ref on the
// same int8 values, the layouts bit-identical, and within int8 rounding of the fp32 result.
// quantize_row_i8 itself: every value within half a step of its row's scale, max |x| at ±127, zero rows.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "anvil/kernels/ops.h"
#include "anvil/kernels/ref/ref.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

constexpr double kDecodeRtol = 1e-4;  // fp32 online softmax vs double reference / vs the flash kernel
constexpr double kDecodeAtol = 2e-5;
constexpr double kF16CacheTol = 4e-3;  // K and V rounded to binary16 (2^-11 relative), inputs in [-1, 1]
constexpr double kI8CacheTol = 2e-2;   // K and V within max|row| / 254 each; measured 5e-3 to 1e-2 here

struct DecodeCase {
  int64_t T, H, Hkv, D, window;
  bool alibi;
  int64_t prefill;  // tokens in the first (prefill) call; the rest one at a time
};

void run_case(const DecodeCase& c) {
  SCOPED_TRACE(testing::Message() << "T=" << c.T << " H=" << c.H << " Hkv=" << c.Hkv << " D=" << c.D
                                  << " W=" << c.window << " alibi=" << c.alibi << " prefill=" << c.prefill);
  const int64_t QD = c.H * c.D, KVD = c.Hkv * c.D, QKV = QD + 2 * KVD;
  // A fused (T, q|k|v) buffer, as the model produces it; k and v double as the cache (row stride QKV).
  const auto qkv = random_vec(c.T * QKV, 7 + static_cast<uint64_t>(c.T * c.H));
  std::vector<float> slopes(static_cast<size_t>(c.H));
  ops::alibi_slopes(slopes.data(), c.H);
  const float* sl = c.alibi ? slopes.data() : nullptr;
  const float *q = qkv.data(), *k = qkv.data() + QD, *v = qkv.data() + QD + KVD;

  const AttentionDims full{.B = 1, .T = c.T, .H = c.H, .Hkv = c.Hkv, .D = c.D, .q_row_stride = QKV,
                           .k_row_stride = QKV, .v_row_stride = QKV, .window = c.window, .alibi_slopes = sl};
  std::vector<float> want(c.T * QD), lse(c.H * c.T);
  ops::attention_forward(want.data(), lse.data(), q, k, v, full);

  // The same buffer in f16: the cache an Engine with kv_dtype F16 holds.
  std::vector<f16_t> qkv16(qkv.size());
  ref::f32_to_f16(qkv16.data(), qkv.data(), static_cast<int64_t>(qkv.size()));
  const f16_t *k16 = qkv16.data() + QD, *v16 = qkv16.data() + QD + KVD;

  // The same caches with each kv head's positions contiguous, (Hkv, T, D): KvCache's layout.
  auto per_head = [&](const auto* src) {
    std::vector<std::remove_cvref_t<decltype(*src)>> dst(static_cast<size_t>(c.T * KVD));
    for (int64_t p = 0; p < c.T; ++p)
      for (int64_t hk = 0; hk < c.Hkv; ++hk)
        std::copy_n(src + p * QKV + hk * c.D, c.D, dst.begin() + (hk * c.T + p) * c.D);
    return dst;
  };
  const auto kh = per_head(k), vh = per_head(v);
  const auto kh16 = per_head(k16), vh16 = per_head(v16);
  // int8 copies with a scale per (position, kv head) row: (T, Hkv, D) with scales (T, Hkv), and the
  // per-head layout (Hkv, T, D) with scales (Hkv, T).
  std::vector<int8_t> k8(c.T * KVD), v8(c.T * KVD), k8h(c.T * KVD), v8h(c.T * KVD);
  std::vector<float> ks8(c.T * c.Hkv), vs8(c.T * c.Hkv), ks8h(c.T * c.Hkv), vs8h(c.T * c.Hkv);
  for (int64_t p = 0; p < c.T; ++p)
    for (int64_t hk = 0; hk < c.Hkv; ++hk) {
      const int64_t r = p * c.Hkv + hk, rh = hk * c.T + p;
      ops::quantize_row_i8(k8.data() + r * c.D, &ks8[r], k + p * QKV + hk * c.D, c.D);
      ops::quantize_row_i8(v8.data() + r * c.D, &vs8[r], v + p * QKV + hk * c.D, c.D);
      std::copy_n(k8.data() + r * c.D, c.D, k8h.data() + rh * c.D), ks8h[rh] = ks8[r];
      std::copy_n(v8.data() + r * c.D, c.D, v8h.data() + rh * c.D), vs8h[rh] = vs8[r];
    }

  std::vector<float> fast(c.T * QD), ref_out(c.T * QD), fast16(c.T * QD), ref16(c.T * QD);
  std::vector<float> fast_h(c.T * QD), ref_h(c.T * QD), fast16_h(c.T * QD), ref16_h(c.T * QD);
  std::vector<float> fast8(c.T * QD), ref8(c.T * QD), fast8_h(c.T * QD);
  auto step = [&](int64_t pos0, int64_t n) {
    const DecodeAttentionDims d{.T_new = n, .pos0 = pos0, .H = c.H, .Hkv = c.Hkv, .D = c.D, .q_row_stride = QKV,
                                .kv_row_stride = QKV, .window = c.window, .alibi_slopes = sl};
    ops::attention_decode(fast.data() + pos0 * QD, q + pos0 * QKV, k, v, d);
    ref::attention_decode(ref_out.data() + pos0 * QD, q + pos0 * QKV, k, v, d);
    ops::attention_decode(fast16.data() + pos0 * QD, q + pos0 * QKV, k16, v16, d);
    ref::attention_decode(ref16.data() + pos0 * QD, q + pos0 * QKV, k16, v16, d);
    DecodeAttentionDims dh = d;
    dh.kv_row_stride = c.D, dh.kv_head_stride = c.T * c.D;
    ops::attention_decode(fast_h.data() + pos0 * QD, q + pos0 * QKV, kh.data(), vh.data(), dh);
    ref::attention_decode(ref_h.data() + pos0 * QD, q + pos0 * QKV, kh.data(), vh.data(), dh);
    ops::attention_decode(fast16_h.data() + pos0 * QD, q + pos0 * QKV, kh16.data(), vh16.data(), dh);
    ref::attention_decode(ref16_h.data() + pos0 * QD, q + pos0 * QKV, kh16.data(), vh16.data(), dh);
    DecodeAttentionDims d8 = d;
    d8.kv_row_stride = KVD, d8.k_scale = ks8.data(), d8.v_scale = vs8.data();
    ops::attention_decode(fast8.data() + pos0 * QD, q + pos0 * QKV, k8.data(), v8.data(), d8);
    ref::attention_decode(ref8.data() + pos0 * QD, q + pos0 * QKV, k8.data(), v8.data(), d8);
    DecodeAttentionDims d8h = dh;
    d8h.k_scale = ks8h.data(), d8h.v_scale = vs8h.data(), d8h.scale_row_stride = 1, d8h.scale_head_stride = c.T;
    ops::attention_decode(fast8_h.data() + pos0 * QD, q + pos0 * QKV, k8h.data(), v8h.data(), d8h);
  };
  step(0, c.prefill);
  for (int64_t t = c.prefill; t < c.T; ++t) step(t, 1);
  // Only the addressing differs: the same values in the same order, so the same bits.
  EXPECT_EQ(fast_h, fast) << "per-head cache layout (fp32)";
  EXPECT_EQ(ref_h, ref_out) << "per-head cache layout (fp32, ref)";
  EXPECT_EQ(fast16_h, fast16) << "per-head cache layout (f16)";
  EXPECT_EQ(ref16_h, ref16) << "per-head cache layout (f16, ref)";
  expect_close("decode fast vs ref", fast, ref_out, kDecodeRtol, kDecodeAtol);
  expect_close("decode vs full attention_forward", fast, want, kDecodeRtol, kDecodeAtol);
  expect_close("f16 cache: fast vs ref", fast16, ref16, kDecodeRtol, kDecodeAtol);
  expect_close("f16 cache vs fp32 cache", fast16, fast, kF16CacheTol, kF16CacheTol);
  EXPECT_EQ(fast8_h, fast8) << "per-head cache layout (int8)";
  expect_close("int8 cache: fast vs ref", fast8, ref8, kDecodeRtol, kDecodeAtol);
  expect_close("int8 cache vs fp32 cache", fast8, fast, kI8CacheTol, kI8CacheTol);
}

TEST(AttentionDecode, QuantizeRowI8) {
  const auto x = random_vec(77, 5);
  std::vector<int8_t> q(77);
  float s = 0.0f;
  ops::quantize_row_i8(q.data(), &s, x.data(), 77);
  float amax = 0.0f;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  EXPECT_EQ(s, amax / 127.0f);
  int n_full = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(x[i] - q[i] * s), s / 2 * (1 + 1e-6f)) << i;
    n_full += std::abs(q[i]) == 127;
  }
  EXPECT_GE(n_full, 1);  // the largest magnitude maps to the end of the range
  const std::vector<float> zeros(9, 0.0f);
  std::vector<int8_t> qz(9, 1);
  ops::quantize_row_i8(qz.data(), &s, zeros.data(), 9);
  EXPECT_EQ(s, 0.0f);
  EXPECT_EQ(qz, std::vector<int8_t>(9, 0));
}

TEST(AttentionDecode, MatchesRefAndFullSequence) {
  const DecodeCase cases[] = {
      {.T = 9, .H = 2, .Hkv = 2, .D = 8, .window = 0, .alibi = false, .prefill = 1},
      {.T = 37, .H = 6, .Hkv = 2, .D = 16, .window = 0, .alibi = false, .prefill = 20},  // GQA
      {.T = 40, .H = 4, .Hkv = 1, .D = 12, .window = 7, .alibi = false, .prefill = 13},  // MQA + window
      {.T = 33, .H = 5, .Hkv = 5, .D = 20, .window = 0, .alibi = true, .prefill = 33},   // ALiBi, all prefill
      {.T = 30, .H = 4, .Hkv = 2, .D = 8, .window = 5, .alibi = true, .prefill = 3},     // window + ALiBi
      {.T = 600, .H = 4, .Hkv = 2, .D = 32, .window = 0, .alibi = false, .prefill = 300},  // > 2 key chunks
      {.T = 520, .H = 2, .Hkv = 1, .D = 64, .window = 300, .alibi = false, .prefill = 517},
      {.T = 70, .H = 6, .Hkv = 6, .D = 48, .window = 0, .alibi = false, .prefill = 16},   // LLaMA 15M heads
      {.T = 50, .H = 6, .Hkv = 2, .D = 32, .window = 0, .alibi = true, .prefill = 17},    // quickstart GQA
      {.T = 45, .H = 2, .Hkv = 2, .D = 128, .window = 21, .alibi = false, .prefill = 2},  // 8 chunks, window
      {.T = 40, .H = 10, .Hkv = 1, .D = 7, .window = 0, .alibi = true, .prefill = 9},     // group of 10: 8 + 2
      {.T = 35, .H = 3, .Hkv = 1, .D = 113, .window = 0, .alibi = false, .prefill = 31},  // partial 8th chunk
      {.T = 26, .H = 4, .Hkv = 2, .D = 144, .window = 9, .alibi = true, .prefill = 5},    // D > 128: portable
  };
  for (const DecodeCase& c : cases) run_case(c);
}

TEST(AttentionDecode, PackedStridesAndExplicitScale) {
  // Packed q (stride 0) and a packed cache; an explicit scale; one query late in a cache.
  const int64_t n_pos = 50, H = 3, Hkv = 3, D = 24, pos0 = 44, T_new = 6;
  const auto q = random_vec(T_new * H * D, 91), k = random_vec(n_pos * Hkv * D, 92), v = random_vec(n_pos * Hkv * D, 93);
  const DecodeAttentionDims d{.T_new = T_new, .pos0 = pos0, .H = H, .Hkv = Hkv, .D = D, .scale = 0.3f};
  std::vector<float> g(T_new * H * D), w(T_new * H * D);
  ops::attention_decode(g.data(), q.data(), k.data(), v.data(), d);
  ref::attention_decode(w.data(), q.data(), k.data(), v.data(), d);
  expect_close("decode packed", g, w, kDecodeRtol, kDecodeAtol);
}

}  // namespace
}  // namespace anvil::test
