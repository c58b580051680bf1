// Edge cases of the fast kernels: a batch whose targets are all ignored, logits of 1e4, single-token
// sequences, and fused-attention windows of 1 (each query sees only itself).
#include <cmath>

#include "anvil/kernels/ops.h"
#include "anvil/kernels/ref/ref.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

TEST(Edge, CrossEntropyAllIgnored) {
  const int64_t N = 5, V = 33;
  const auto z = random_vec(N * V, 80);
  const std::vector<int32_t> targets(N, -100);
  std::vector<float> losses(N, 7.0f), lse(N), grad(N * V, 7.0f);
  EXPECT_EQ(ops::cross_entropy_forward(losses.data(), lse.data(), z.data(), targets.data(), N, V, 0.1f, -100), 0);
  for (float l : losses) EXPECT_EQ(l, 0.0f);
  for (float l : lse) EXPECT_TRUE(std::isfinite(l));
  // The caller's dloss would be 1/n_valid = inf here; ignored rows must still come out exactly 0.
  ops::cross_entropy_backward(grad.data(), z.data(), lse.data(), targets.data(), N, V, 0.1f, -100, INFINITY);
  for (float g : grad) EXPECT_EQ(g, 0.0f);
}

TEST(Edge, CrossEntropyHugeLogitsStayFinite) {
  const int64_t N = 3, V = 100;
  auto z = random_vec(N * V, 81, -1.0f, 1.0f);
  z[0 * V + 5] = 1e4f;
  z[1 * V + 7] = -1e4f;
  z[2 * V + 0] = 1e4f, z[2 * V + 1] = 1e4f;
  const std::vector<int32_t> targets = {5, 7, 3};
  std::vector<float> gl(N), glse(N), wl(N), wlse(N);
  ops::cross_entropy_forward(gl.data(), glse.data(), z.data(), targets.data(), N, V, 0.1f, -100);
  ref::cross_entropy_forward(wl.data(), wlse.data(), z.data(), targets.data(), N, V, 0.1f, -100);
  for (float l : gl) EXPECT_TRUE(std::isfinite(l));
  expect_close("huge-logit losses", gl, wl, 1e-5, 1e-2);  // losses ~1e4: 1e-2 is ~1 ulp
  std::vector<float> grad(N * V);
  ops::cross_entropy_backward(grad.data(), z.data(), glse.data(), targets.data(), N, V, 0.1f, -100, 1.0f);
  for (float g : grad) EXPECT_TRUE(std::isfinite(g));
  // Two tied maxima share the probability. lse ~1e4 is stored in fp32 (ulp 1e-3), so p = exp(z - lse) is
  // only good to that relative precision.
  EXPECT_NEAR(grad[2 * V + 0], 0.5f - 0.1f / V, 1e-3);
}

TEST(Edge, SoftmaxHugeInputs) {
  std::vector<float> z = {1e4f, -1e4f, 1e4f, 0.0f}, out(4);
  ops::softmax_forward(out.data(), z.data(), 1, 4);
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  EXPECT_FLOAT_EQ(out[3], 0.0f);
}

TEST(Edge, AttentionSingleTokenAndWindowOne) {
  // T = 1 and window = 1: the output is v itself, lse = the one score, dq = dk = 0, dv = dout.
  for (int64_t T : {1, 9}) {
    const int64_t B = 2, H = 2, D = 16, N = B * T;
    const AttentionDims dims{.B = B, .T = T, .H = H, .Hkv = H, .D = D, .window = 1};
    const auto q = random_vec(N * H * D, 82), k = random_vec(N * H * D, 83), v = random_vec(N * H * D, 84);
    const auto dout = random_vec(N * H * D, 85);
    std::vector<float> out(N * H * D), lse(B * H * T), dq(q.size(), 1.0f), dk(q.size(), 1.0f), dv(q.size(), 1.0f);
    ops::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims);
    expect_close("window-1 out = v", out, v, 1e-6, 1e-7);
    ops::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse.data(), q.data(), k.data(),
                            v.data(), dims);
    expect_close("window-1 dv = dout", dv, dout, 1e-6, 1e-7);
    for (size_t i = 0; i < dq.size(); ++i) {
      ASSERT_NEAR(dq[i], 0.0f, 1e-6) << i;
      ASSERT_NEAR(dk[i], 0.0f, 1e-6) << i;
    }
  }
}

TEST(Edge, AttentionLargeScoresStayFinite) {
  // |q.k| scale up to ~1e3: the online softmax must rescale without overflow and match the reference.
  const int64_t B = 1, T = 100, H = 2, D = 32, N = B * T;
  const AttentionDims dims{.B = B, .T = T, .H = H, .Hkv = 1, .D = D};
  const auto q = random_vec(N * H * D, 86, -8.0f, 8.0f), k = random_vec(N * D, 87, -8.0f, 8.0f);
  const auto v = random_vec(N * D, 88), dout = random_vec(N * H * D, 89);
  std::vector<float> go(N * H * D), wo(go.size()), glse(B * H * T), wlse(glse.size());
  ops::attention_forward(go.data(), glse.data(), q.data(), k.data(), v.data(), dims);
  ref::attention_forward(wo.data(), wlse.data(), q.data(), k.data(), v.data(), dims);
  expect_close("large-score out", go, wo, 1e-4, 1e-4);
  expect_close("large-score lse", glse, wlse, 1e-5, 1e-3);  // lse ~1e2-1e3: a few fp32 ulps
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  ops::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), go.data(), glse.data(), q.data(), k.data(),
                          v.data(), dims);
  for (const auto* g : {&dq, &dk, &dv})
    for (float x : *g) ASSERT_TRUE(std::isfinite(x));
}

TEST(Edge, GemmZeroK) {
  std::vector<float> C = {NAN, NAN, 1.0f, 2.0f};
  ops::gemm(Precision::kF32, Transpose::kNo, Transpose::kNo, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, C.data(), 2);
  EXPECT_EQ(C[0], 0.0f);
  EXPECT_EQ(C[1], 0.0f);
  ops::gemm(Precision::kF32, Transpose::kNo, Transpose::kNo, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 2.0f, C.data() + 2, 2);
  EXPECT_EQ(C[2], 2.0f);
  EXPECT_EQ(C[3], 4.0f);
}

}  // namespace
}  // namespace anvil::test
