// anvil::ops against anvil::ref for embeddings, RoPE, ALiBi slopes, dropout and fused attention
// (GQA, sliding windows, ALiBi, fused strided qkv / dqkv buffers, attention dropout), plus thread-count
// determinism and the statistics of the attention dropout mask.
#include <omp.h>

#include <array>
#include <cmath>

#include "anvil/kernels/ops.h"
#include "anvil/kernels/ref/ref.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

// Attention: fp32 online softmax vs double reference.
constexpr double kAttnRtol = 1e-4;
constexpr double kAttnAtol = 2e-5;
constexpr float kUntouched = 12345.0f;  // sentinel in the parts of a fused buffer a kernel must not write
constexpr uint64_t kDropSeed = 0x5eedf00dull;

TEST(OpsVsRef, EmbeddingForwardBackwardDeterministic) {
  const int64_t B = 3, T = 7, C = 257, V = 11, N = B * T;
  const auto table = random_vec(V * C, 30), pos = random_vec(T * C, 31), dout = random_vec(N * C, 32);
  const auto ids = random_ids(N, static_cast<int32_t>(V), 33);  // V < N: repeated ids
  for (const float* p : {pos.data(), static_cast<const float*>(nullptr)}) {
    std::vector<float> g(N * C), w(N * C);
    ops::embedding_forward(g.data(), ids.data(), table.data(), p, N, T, C);
    ref::embedding_forward(w.data(), ids.data(), table.data(), p, N, T, C);
    expect_close("embedding_forward", g, w);
  }
  auto gdt = random_vec(V * C, 34), gdp = random_vec(T * C, 35);
  auto wdt = gdt, wdp = gdp;
  ops::embedding_backward(gdt.data(), gdp.data(), dout.data(), ids.data(), N, T, C);
  ref::embedding_backward(wdt.data(), wdp.data(), dout.data(), ids.data(), N, T, C);
  expect_close("embedding dtable", gdt, wdt);
  expect_close("embedding dpos", gdp, wdp);
  // Bit-identical across thread counts.
  std::vector<float> one(V * C, 0.0f), two(V * C, 0.0f);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  ops::embedding_backward(one.data(), nullptr, dout.data(), ids.data(), N, T, C);
  omp_set_num_threads(2);
  ops::embedding_backward(two.data(), nullptr, dout.data(), ids.data(), N, T, C);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(OpsVsRef, RopeBothStyles) {
  const int64_t B = 2, T = 7, H = 3;
  for (int64_t D : {2, 16, 64, 80}) {
    const int64_t half = D / 2, stride = H * D + 5;  // strided rows (e.g. inside a fused qkv buffer)
    std::vector<float> gc(T * half), gs(T * half), wc(T * half), ws(T * half);
    ops::rope_table(gc.data(), gs.data(), T, D, 10000.0f, 3);
    ref::rope_table(wc.data(), ws.data(), T, D, 10000.0f, 3);
    expect_close("rope cos", gc, wc, 0.0, 1e-7);
    expect_close("rope sin", gs, ws, 0.0, 1e-7);
    for (RopeStyle st : {RopeStyle::kHalfSplit, RopeStyle::kInterleaved}) {
      const auto x = random_vec(B * T * stride, 36);
      auto g = x, w = x;
      ops::rope_forward(g.data(), gc.data(), gs.data(), B, T, H, D, stride, st);
      ref::rope_forward(w.data(), wc.data(), ws.data(), B, T, H, D, stride, st);
      expect_close("rope_forward D=" + std::to_string(D), g, w, 1e-6, 1e-6);
      ops::rope_backward(g.data(), gc.data(), gs.data(), B, T, H, D, stride, st);
      ref::rope_backward(w.data(), wc.data(), ws.data(), B, T, H, D, stride, st);
      expect_close("rope_backward D=" + std::to_string(D), g, w, 1e-6, 1e-6);
      expect_close("rope backward(forward(x)) = x", g, x, 1e-6, 1e-6);  // rotation is orthogonal
    }
  }
}

TEST(OpsVsRef, AlibiSlopes) {
  for (int64_t H = 1; H <= 40; ++H) {
    std::vector<float> g(H), w(H);
    ops::alibi_slopes(g.data(), H);
    ref::alibi_slopes(w.data(), H);
    expect_close("alibi H=" + std::to_string(H), g, w, 1e-6, 0.0);
  }
  // Spec 3.1: n = 8 gives 1/2 ... 1/256; n = 12 appends 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
  std::vector<float> s(12);
  ref::alibi_slopes(s.data(), 8);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(s[h], std::ldexp(1.0f, -(h + 1)));
  ref::alibi_slopes(s.data(), 12);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(s[8 + i], std::exp2(-0.5f - i));
}

TEST(OpsVsRef, DropoutMatchesAndIgnoresThreadCount) {
  const int64_t n = 100003;
  const float p = 0.2f;
  const auto x = random_vec(n, 37);
  auto g = x, w = x;
  std::vector<uint8_t> gm(n), wm(n);
  ops::dropout_forward(g.data(), gm.data(), n, p, 42);
  ref::dropout_forward(w.data(), wm.data(), n, p, 42);
  EXPECT_EQ(gm, wm);
  expect_close("dropout_forward", g, w, 1e-6, 0.0);
  int64_t kept = 0;
  for (uint8_t m : gm) kept += m;
  EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.01);  // ~5 sigma of a binomial at n = 1e5
  auto d1 = x;
  std::vector<uint8_t> m1(n);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  ops::dropout_forward(d1.data(), m1.data(), n, p, 42);
  omp_set_num_threads(saved);
  EXPECT_EQ(m1, gm);
  auto gd = x, wd = x;
  ops::dropout_backward(gd.data(), gm.data(), n, p);
  ref::dropout_backward(wd.data(), wm.data(), n, p);
  expect_close("dropout_backward", gd, wd, 1e-6, 0.0);
  std::vector<uint8_t> other(n);
  auto y = x;
  ops::dropout_forward(y.data(), other.data(), n, p, 43);
  EXPECT_NE(other, gm) << "a different seed must give a different mask";
}

struct AttnCase {
  int64_t B, T, H, Hkv, D, window;
  bool alibi, fused;
  float dropout_p = 0.0f;
};

// Runs forward and backward of ops and ref on one case; with `fused`, q/k/v live in one (B*T, row) buffer
// with a padding column block that neither kernel may write, and dq/dk/dv in a second such buffer.
void run_attention_case(const AttnCase& c) {
  const std::string tag = "B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) +
                          " Hkv=" + std::to_string(c.Hkv) + " D=" + std::to_string(c.D) + " W=" + std::to_string(c.window) +
                          (c.alibi ? " alibi" : "") + (c.fused ? " fused" : "") +
                          (c.dropout_p > 0 ? " p=" + std::to_string(c.dropout_p) : "");
  SCOPED_TRACE(tag);
  const int64_t N = c.B * c.T, qw = c.H * c.D, kw = c.Hkv * c.D;
  std::vector<float> slopes(c.H);
  ref::alibi_slopes(slopes.data(), c.H);
  AttentionDims dims{.B = c.B, .T = c.T, .H = c.H, .Hkv = c.Hkv, .D = c.D, .window = c.window,
                     .alibi_slopes = c.alibi ? slopes.data() : nullptr, .dropout_p = c.dropout_p,
                     .dropout_seed = kDropSeed};
  const int64_t row = c.fused ? qw + 2 * kw + 3 : 0;
  std::vector<float> qkv, q, k, v;
  const float *qp, *kp, *vp;
  if (c.fused) {
    qkv = random_vec(N * row, 40, -2.0f, 2.0f);
    qp = qkv.data(), kp = qkv.data() + qw, vp = qkv.data() + qw + kw;
    dims.q_row_stride = dims.k_row_stride = dims.v_row_stride = row;
  } else {
    q = random_vec(N * qw, 41, -2.0f, 2.0f), k = random_vec(N * kw, 42, -2.0f, 2.0f), v = random_vec(N * kw, 43);
    qp = q.data(), kp = k.data(), vp = v.data();
  }
  std::vector<float> go(N * qw), wo(N * qw), glse(c.B * c.H * c.T), wlse(glse.size());
  ops::attention_forward(go.data(), glse.data(), qp, kp, vp, dims);
  ref::attention_forward(wo.data(), wlse.data(), qp, kp, vp, dims);
  expect_close("attention out", go, wo, kAttnRtol, kAttnAtol);
  expect_close("attention lse", glse, wlse, kAttnRtol, kAttnAtol);

  const auto dout = random_vec(N * qw, 44);
  const int64_t grad_size = c.fused ? N * row : N * qw;
  std::vector<float> gq(grad_size, kUntouched), wq(grad_size, kUntouched);
  std::vector<float> gk(c.fused ? 0 : N * kw, kUntouched), gv(gk.size(), kUntouched), wk(gk), wv(gk);
  auto ptrs = [&](std::vector<float>& dq, std::vector<float>& dk, std::vector<float>& dv) {
    return c.fused ? std::array<float*, 3>{dq.data(), dq.data() + qw, dq.data() + qw + kw}
                   : std::array<float*, 3>{dq.data(), dk.data(), dv.data()};
  };
  const auto gp = ptrs(gq, gk, gv), wp = ptrs(wq, wk, wv);
  ops::attention_backward(gp[0], gp[1], gp[2], dout.data(), go.data(), glse.data(), qp, kp, vp, dims);
  ref::attention_backward(wp[0], wp[1], wp[2], dout.data(), wo.data(), wlse.data(), qp, kp, vp, dims);
  expect_close("attention dq (or fused dqkv)", gq, wq, kAttnRtol, kAttnAtol);
  if (!c.fused) {
    expect_close("attention dk", gk, wk, kAttnRtol, kAttnAtol);
    expect_close("attention dv", gv, wv, kAttnRtol, kAttnAtol);
  } else {
    for (int64_t r = 0; r < N; ++r)
      for (int64_t e = qw + 2 * kw; e < row; ++e) ASSERT_EQ(gq[r * row + e], kUntouched) << "padding written";
  }
}

TEST(OpsVsRef, AttentionForwardBackward) {
  const AttnCase cases[] = {
      {1, 1, 4, 4, 16, 0, false, false},   {2, 7, 4, 2, 16, 0, false, false},  {1, 64, 4, 1, 64, 0, false, true},
      {2, 130, 4, 2, 64, 0, false, false}, {1, 130, 4, 4, 80, 0, true, true},  {2, 64, 4, 1, 16, 1, false, false},
      {1, 130, 4, 2, 16, 5, true, false},  {1, 130, 4, 4, 64, 5, false, true}, {1, 64, 4, 2, 64, 64, false, false},
      {2, 7, 4, 1, 80, 7, true, true},     {1, 200, 4, 1, 16, 70, true, false}, {3, 33, 6, 3, 16, 0, true, false},
      {1, 40, 4, 2, 24, 0, true, false},   {1, 70, 2, 1, 8, 9, false, true},    {1, 129, 2, 2, 128, 0, false, false},
  };
  for (const AttnCase& c : cases) run_attention_case(c);
}

}  // namespace
}  // namespace anvil::test

namespace anvil::test {
namespace {

// Same masks in ops and ref (one hash of (seed, b, h, i, j)), so dropout keeps the no-dropout tolerance.
TEST(OpsVsRef, AttentionDropoutForwardBackward) {
  const AttnCase cases[] = {
      {1, 1, 4, 4, 16, 0, false, false, 0.5f},  {2, 7, 4, 2, 16, 0, false, false, 0.1f},
      {2, 130, 4, 2, 64, 0, false, false, 0.1f}, {1, 130, 4, 4, 80, 0, true, true, 0.5f},
      {1, 130, 4, 2, 16, 5, true, false, 0.3f},  {2, 7, 4, 1, 80, 7, true, true, 0.2f},
      {1, 200, 4, 1, 16, 70, true, false, 0.1f}, {3, 33, 6, 3, 16, 0, true, false, 0.5f},
      {1, 70, 2, 1, 8, 9, false, true, 0.9f},    {1, 129, 2, 2, 128, 0, false, false, 0.25f},
  };
  for (const AttnCase& c : cases) run_attention_case(c);
}

// With v_j = e_j (D = T), out[b,i,h,j] = P_ij z_ij: the mask and its scale can be read off the output.
// Checks the dropped fraction of visible probabilities against p, kept ones = P/(1-p), lse unchanged,
// and a mask that ignores the thread count but changes with the seed.
TEST(AttentionDropout, MaskStatisticsScaleAndDeterminism) {
  const int64_t B = 2, T = 96, H = 6, Hkv = 3, D = T, N = B * T;
  const auto q = random_vec(N * H * D, 45, -1.0f, 1.0f), k = random_vec(N * Hkv * D, 46, -1.0f, 1.0f);
  std::vector<float> v(N * Hkv * D, 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < T; ++j)
      for (int64_t hk = 0; hk < Hkv; ++hk) v[((b * T + j) * Hkv + hk) * D + j] = 1.0f;
  const AttentionDims plain{.B = B, .T = T, .H = H, .Hkv = Hkv, .D = D, .window = 40};
  std::vector<float> p_full(N * H * D), lse_full(B * H * T);
  ops::attention_forward(p_full.data(), lse_full.data(), q.data(), k.data(), v.data(), plain);
  const int64_t n_visible = B * H * (T * 40 - 40 * 39 / 2);
  for (float p : {0.1f, 0.5f}) {
    AttentionDims dims = plain;
    dims.dropout_p = p, dims.dropout_seed = kDropSeed;
    std::vector<float> out(N * H * D), lse(B * H * T);
    ops::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims);
    expect_close("lse with dropout = lse without", lse, lse_full, 0.0, 0.0);
    int64_t n_visible_seen = 0, n_dropped = 0;
    for (int64_t r = 0; r < N; ++r) {
      const int64_t i = r % T;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < T; ++j) {
          const float got = out[(r * H + h) * D + j], prob = p_full[(r * H + h) * D + j];
          if (j > i || j <= i - 40) {
            ASSERT_EQ(got, 0.0f) << "masked key carries weight";
            continue;
          }
          ++n_visible_seen;
          if (got == 0.0f) ++n_dropped;
          else EXPECT_NEAR(got, prob / (1.0f - p), 1e-6 + 1e-5 * prob / (1.0f - p)) << "kept probability not scaled";
        }
    }
    ASSERT_EQ(n_visible_seen, n_visible);
    // Binomial: sigma = sqrt(p(1-p)/n) <= 0.0026 at n = 36720; 0.012 is > 4.5 sigma (the seed is fixed).
    EXPECT_NEAR(static_cast<double>(n_dropped) / static_cast<double>(n_visible), p, 0.012) << "p=" << p;
    std::vector<float> one(out.size()), lse1(lse.size());
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ops::attention_forward(one.data(), lse1.data(), q.data(), k.data(), v.data(), dims);
    omp_set_num_threads(saved);
    EXPECT_EQ(one, out) << "mask depends on the thread count";
    dims.dropout_seed = kDropSeed + 1;
    ops::attention_forward(one.data(), lse1.data(), q.data(), k.data(), v.data(), dims);
    EXPECT_NE(one, out) << "a different seed must give a different mask";
  }
}

}  // namespace
}  // namespace anvil::test
