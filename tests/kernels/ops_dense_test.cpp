// anvil::ops against anvil::ref for GEMM, element-wise ops, activations, norms, softmax, cross-entropy,
// on random inputs over odd and even sizes, forward and backward (accumulating outputs pre-filled).
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "anvil/kernels/ops.h"
#include "anvil/kernels/ref/ref.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

// GEMM: the fast and reference results differ only by summation order; scale atol with sqrt(K).
constexpr double kGemmRtol = 1e-5;
constexpr double kGemmAtolPerSqrtK = 1e-5;
// bf16 GEMM against the reference on the same bf16-rounded inputs (fp32 vs double accumulation).
constexpr double kGemmBf16AtolPerSqrtK = 2e-5;

struct GemmCase {
  int64_t M, N, K;
};

void run_gemm_case(Precision prec, const GemmCase& c, Transpose ta, Transpose tb, float alpha, float beta) {
  constexpr int64_t kPad = 3;  // row strides wider than the rows
  const int64_t a_rows = ta == Transpose::kNo ? c.M : c.K, a_cols = ta == Transpose::kNo ? c.K : c.M;
  const int64_t b_rows = tb == Transpose::kNo ? c.K : c.N, b_cols = tb == Transpose::kNo ? c.N : c.K;
  const int64_t lda = a_cols + kPad, ldb = b_cols + kPad, ldc = c.N + kPad;
  const auto A = random_vec(a_rows * lda, 1), B = random_vec(b_rows * ldb, 2);
  std::vector<float> C0 = random_vec(c.M * ldc, 3);
  if (beta == 0.0f) std::fill(C0.begin(), C0.end(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> got = C0, want = C0;
  ops::gemm(prec, ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, got.data(), ldc);
  ref::gemm(prec, ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, want.data(), ldc);
  // Compare the C rows only (padding of C is never written: both keep C0's padding).
  const double atol = (prec == Precision::kF32 ? kGemmAtolPerSqrtK : kGemmBf16AtolPerSqrtK) * std::sqrt(double(c.K));
  for (int64_t i = 0; i < c.M; ++i) {
    expect_close("gemm row " + std::to_string(i) + " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
                     " K=" + std::to_string(c.K) + " ta=" + std::to_string(int(ta)) + " tb=" + std::to_string(int(tb)),
                 got.data() + i * ldc, want.data() + i * ldc, c.N, kGemmRtol, atol);
    for (int64_t j = c.N; j < ldc; ++j) {
      const float a = got[i * ldc + j], b = C0[i * ldc + j];
      EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "gemm wrote C padding at " << i << "," << j;
    }
  }
}

TEST(OpsVsRef, GemmAllTransposesAlphaBeta) {
  const GemmCase cases[] = {{1, 1, 1}, {3, 17, 5}, {64, 80, 33}, {130, 257, 255}, {17, 3, 256}, {7, 64, 1}};
  for (Precision prec : {Precision::kF32, Precision::kBF16})
    for (const GemmCase& c : cases)
      for (Transpose ta : {Transpose::kNo, Transpose::kYes})
        for (Transpose tb : {Transpose::kNo, Transpose::kYes}) {
          run_gemm_case(prec, c, ta, tb, 1.0f, 0.0f);   // beta = 0 over a NaN-filled C
          run_gemm_case(prec, c, ta, tb, 0.5f, 0.75f);  // alpha and beta both active
        }
}

TEST(OpsVsRef, GemmBf16Operands) {
  const int64_t M = 37, N = 70, K = 129;
  for (Transpose ta : {Transpose::kNo, Transpose::kYes})
    for (Transpose tb : {Transpose::kNo, Transpose::kYes}) {
      const auto A = random_vec(M * K, 4), B = random_vec(K * N, 5);
      std::vector<bf16_t> A16(A.size()), B16(B.size());
      ops::f32_to_bf16(A16.data(), A.data(), static_cast<int64_t>(A.size()));
      ops::f32_to_bf16(B16.data(), B.data(), static_cast<int64_t>(B.size()));
      const int64_t lda = ta == Transpose::kNo ? K : M, ldb = tb == Transpose::kNo ? N : K;
      std::vector<float> got = random_vec(M * N, 6), want = got;
      ops::gemm_bf16(ta, tb, M, N, K, 2.0f, A16.data(), lda, B16.data(), ldb, 1.0f, got.data(), N);
      ref::gemm_bf16(ta, tb, M, N, K, 2.0f, A16.data(), lda, B16.data(), ldb, 1.0f, want.data(), N);
      expect_close("gemm_bf16", got, want, kGemmRtol, 2.0 * kGemmBf16AtolPerSqrtK * std::sqrt(double(K)));
    }
}

TEST(OpsVsRef, Bf16RoundingIsExactRne) {
  std::vector<float> x = random_vec(70001, 7, -100.0f, 100.0f);
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[1] = std::numeric_limits<float>::infinity();
  x[2] = 1.0f + 1.0f / 256.0f;  // a tie: rounds to even (1.0)
  x[3] = -0.0f;
  std::vector<bf16_t> got(x.size()), want(x.size());
  ops::f32_to_bf16(got.data(), x.data(), static_cast<int64_t>(x.size()));
  ref::f32_to_bf16(want.data(), x.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i].bits, want[i].bits) << "element " << i << " = " << x[i];
  EXPECT_EQ(bf16_to_f32(got[2]), 1.0f);
}

TEST(OpsVsRef, F16RoundingIsExactRne) {
  std::vector<float> x = random_vec(70001, 11, -70000.0f, 70000.0f);  // past 65504: overflows to inf
  const float specials[] = {std::numeric_limits<float>::infinity(), -0.0f, 1.0f + 1.0f / 2048.0f /* tie: to 1 */,
                            65519.0f /* max finite */, 65520.0f /* inf */, 1e-5f /* subnormal */, 3e-8f /* to 0 */,
                            6.1035156e-05f /* smallest normal */, -2.9802322e-08f /* tie with 2^-25: to -0 */};
  std::copy(std::begin(specials), std::end(specials), x.begin());
  for (size_t i = 100; i < 400; ++i) x[i] = std::ldexp(x[i] / 70000.0f, -static_cast<int>(i % 30));  // tiny values
  for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{33}, static_cast<int64_t>(x.size())}) {
    std::vector<f16_t> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
    ops::f32_to_f16(got.data(), x.data(), n);
    ref::f32_to_f16(want.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i].bits, want[i].bits) << "element " << i << " = " << x[i];
  }
  std::vector<f16_t> nan(1);
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  ops::f32_to_f16(nan.data(), &qnan, 1);
  EXPECT_TRUE(std::isnan(f16_to_f32(nan[0])));
}

TEST(OpsVsRef, ElementwiseAndBias) {
  for (int64_t n : {1, 17, 257, 70000}) {
    const auto a = random_vec(n, 8), b = random_vec(n, 9);
    std::vector<float> g(n), w(n);
    ops::add(g.data(), a.data(), b.data(), n);
    ref::add(w.data(), a.data(), b.data(), n);
    expect_close("add", g, w);
    g = a, w = a;
    ops::add_inplace(g.data(), b.data(), n);
    ref::add_inplace(w.data(), b.data(), n);
    expect_close("add_inplace", g, w);
    ops::scale_inplace(g.data(), 0.3f, n);
    ref::scale_inplace(w.data(), 0.3f, n);
    expect_close("scale_inplace", g, w);
  }
  for (int64_t C : {1, 3, 17, 255, 256, 257}) {
    const int64_t N = 130;
    const auto x = random_vec(N * C, 10), bias = random_vec(C, 11);
    std::vector<float> g = x, w = x;
    ops::add_bias(g.data(), bias.data(), N, C);
    ref::add_bias(w.data(), bias.data(), N, C);
    expect_close("add_bias", g, w);
    std::vector<float> gb = bias, wb = bias;  // += semantics
    ops::bias_backward(gb.data(), x.data(), N, C);
    ref::bias_backward(wb.data(), x.data(), N, C);
    expect_close("bias_backward C=" + std::to_string(C), gb, wb, kRtolF32, 1e-4);
  }
}

TEST(OpsVsRef, Activations) {
  for (int64_t n : {1, 17, 255, 256, 257, 70000}) {
    auto x = random_vec(n, 12, -6.0f, 6.0f);
    if (n > 4) x[0] = 20.0f, x[1] = -20.0f, x[2] = 0.0f, x[3] = -1e-4f;
    const auto up = random_vec(n, 13), dy = random_vec(n, 14);
    for (GeluApprox ap : {GeluApprox::kTanh, GeluApprox::kErf}) {
      const std::string tag = ap == GeluApprox::kTanh ? " tanh" : " erf";
      std::vector<float> g(n), w(n);
      ops::gelu_forward(g.data(), x.data(), n, ap);
      ref::gelu_forward(w.data(), x.data(), n, ap);
      expect_close("gelu_forward" + tag, g, w, 1e-5, 1e-6);
      ops::gelu_backward(g.data(), x.data(), dy.data(), n, ap);
      ref::gelu_backward(w.data(), x.data(), dy.data(), n, ap);
      expect_close("gelu_backward" + tag, g, w, 1e-5, 1e-6);
      std::vector<float> in_place = dy;  // dinp may alias dout
      ops::gelu_backward(in_place.data(), x.data(), in_place.data(), n, ap);
      expect_close("gelu_backward in place" + tag, in_place, w, 1e-5, 1e-6);
    }
    std::vector<float> g(n), w(n), g2(n), w2(n);
    ops::swiglu_forward(g.data(), x.data(), up.data(), n);
    ref::swiglu_forward(w.data(), x.data(), up.data(), n);
    expect_close("swiglu_forward", g, w, 1e-5, 1e-6);
    ops::swiglu_backward(g.data(), g2.data(), x.data(), up.data(), dy.data(), n);
    ref::swiglu_backward(w.data(), w2.data(), x.data(), up.data(), dy.data(), n);
    expect_close("swiglu_backward dgate", g, w, 1e-5, 1e-6);
    expect_close("swiglu_backward dup", g2, w2, 1e-5, 1e-6);
  }
}

TEST(OpsVsRef, LayerNormAndRmsNorm) {
  for (int64_t N : {1, 7, 64})
    for (int64_t C : {1, 3, 17, 255, 256, 257}) {
      const std::string tag = " N=" + std::to_string(N) + " C=" + std::to_string(C);
      const auto x = random_vec(N * C, 15, -2.0f, 3.0f), wt = random_vec(C, 16), bias = random_vec(C, 17);
      const auto dy = random_vec(N * C, 18);
      std::vector<float> go(N * C), wo(N * C), gm(N), wm(N), gr(N), wr(N);
      for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {
        ops::layernorm_forward(go.data(), gm.data(), gr.data(), x.data(), wt.data(), b, N, C, 1e-5f);
        ref::layernorm_forward(wo.data(), wm.data(), wr.data(), x.data(), wt.data(), b, N, C, 1e-5f);
        expect_close("layernorm out" + tag, go, wo, 1e-5, 1e-5);
        expect_close("layernorm mean" + tag, gm, wm, 1e-5, 1e-6);
        expect_close("layernorm rstd" + tag, gr, wr, 1e-5, 1e-6);
      }
      // Backward accumulates: start from non-zero gradients.
      auto gdx = random_vec(N * C, 19), gdw = random_vec(C, 20), gdb = random_vec(C, 21);
      auto wdx = gdx, wdw = gdw, wdb = gdb;
      ops::layernorm_backward(gdx.data(), gdw.data(), gdb.data(), dy.data(), x.data(), wt.data(), wm.data(), wr.data(), N, C);
      ref::layernorm_backward(wdx.data(), wdw.data(), wdb.data(), dy.data(), x.data(), wt.data(), wm.data(), wr.data(), N, C);
      expect_close("layernorm dinp" + tag, gdx, wdx, 1e-4, 1e-5);
      expect_close("layernorm dweight" + tag, gdw, wdw, 1e-5, 1e-5);
      expect_close("layernorm dbias" + tag, gdb, wdb, 1e-5, 1e-5);

      ops::rmsnorm_forward(go.data(), gr.data(), x.data(), wt.data(), N, C, 1e-6f);
      ref::rmsnorm_forward(wo.data(), wr.data(), x.data(), wt.data(), N, C, 1e-6f);
      expect_close("rmsnorm out" + tag, go, wo, 1e-5, 1e-6);
      expect_close("rmsnorm rstd" + tag, gr, wr, 1e-5, 1e-6);
      ops::rmsnorm_backward(gdx.data(), gdw.data(), dy.data(), x.data(), wt.data(), wr.data(), N, C);
      ref::rmsnorm_backward(wdx.data(), wdw.data(), dy.data(), x.data(), wt.data(), wr.data(), N, C);
      expect_close("rmsnorm dinp" + tag, gdx, wdx, 1e-4, 1e-5);
      expect_close("rmsnorm dweight" + tag, gdw, wdw, 1e-5, 1e-5);
    }
}

TEST(OpsVsRef, SoftmaxAndCrossEntropy) {
  constexpr int32_t kIgnore = -100;
  for (int64_t V : {1, 3, 17, 257, 32768}) {
    const int64_t N = 7;
    const auto z = random_vec(N * V, 22, -8.0f, 8.0f);
    std::vector<float> g(N * V), w(N * V);
    ops::softmax_forward(g.data(), z.data(), N, V);
    ref::softmax_forward(w.data(), z.data(), N, V);
    expect_close("softmax V=" + std::to_string(V), g, w, 1e-5, 1e-7);
    auto targets = random_ids(N, static_cast<int32_t>(V), 23);
    targets[2] = kIgnore;
    for (float eps : {0.0f, 0.1f}) {
      const std::string tag = " V=" + std::to_string(V) + " eps=" + std::to_string(eps);
      std::vector<float> gl(N), wl(N), glse(N), wlse(N);
      const int64_t gn = ops::cross_entropy_forward(gl.data(), glse.data(), z.data(), targets.data(), N, V, eps, kIgnore);
      const int64_t wn = ref::cross_entropy_forward(wl.data(), wlse.data(), z.data(), targets.data(), N, V, eps, kIgnore);
      EXPECT_EQ(gn, N - 1);
      EXPECT_EQ(gn, wn);
      expect_close("ce losses" + tag, gl, wl, 1e-5, 1e-5);
      expect_close("ce lse" + tag, glse, wlse, 1e-6, 1e-5);
      std::vector<float> gd = random_vec(N * V, 24), wd(N * V);
      ops::cross_entropy_backward(gd.data(), z.data(), glse.data(), targets.data(), N, V, eps, kIgnore, 0.25f);
      ref::cross_entropy_backward(wd.data(), z.data(), wlse.data(), targets.data(), N, V, eps, kIgnore, 0.25f);
      expect_close("ce dlogits" + tag, gd, wd, 1e-5, 1e-7);
      std::vector<float> in_place = z;  // dlogits may alias logits
      ops::cross_entropy_backward(in_place.data(), in_place.data(), glse.data(), targets.data(), N, V, eps, kIgnore, 0.25f);
      expect_close("ce dlogits in place" + tag, in_place, wd, 1e-5, 1e-7);
    }
  }
}

}  // namespace
}  // namespace anvil::test
