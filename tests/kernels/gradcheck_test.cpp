// Finite-difference checks of every hand-written backward, on the reference implementations: the loss is
// sum(out * w) for a random w (in double), the analytic gradient comes from ref::*_backward.
#include "anvil/kernels/ref/ref.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

TEST(GradCheck, LayerNorm) {
  const int64_t N = 3, C = 17;
  auto x = random_vec(N * C, 50, -2.0f, 2.0f), wt = random_vec(C, 51), bias = random_vec(C, 52);
  const auto w = random_vec(N * C, 53);
  std::vector<float> out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    ref::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), wt.data(), bias.data(), N, C, 1e-5f);
    return weighted_sum(out, w);
  };
  loss();
  std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f), db(C, 0.0f);
  ref::layernorm_backward(dx.data(), dw.data(), db.data(), w.data(), x.data(), wt.data(), mean.data(), rstd.data(), N, C);
  expect_fd_gradient("layernorm dinp", x, dx, loss);
  expect_fd_gradient("layernorm dweight", wt, dw, loss);
  expect_fd_gradient("layernorm dbias", bias, db, loss);
}

TEST(GradCheck, RmsNorm) {
  const int64_t N = 3, C = 17;
  auto x = random_vec(N * C, 54, -2.0f, 2.0f), wt = random_vec(C, 55);
  const auto w = random_vec(N * C, 56);
  std::vector<float> out(N * C), rstd(N);
  auto loss = [&] {
    ref::rmsnorm_forward(out.data(), rstd.data(), x.data(), wt.data(), N, C, 1e-6f);
    return weighted_sum(out, w);
  };
  loss();
  std::vector<float> dx(N * C, 0.0f), dw(C, 0.0f);
  ref::rmsnorm_backward(dx.data(), dw.data(), w.data(), x.data(), wt.data(), rstd.data(), N, C);
  expect_fd_gradient("rmsnorm dinp", x, dx, loss);
  expect_fd_gradient("rmsnorm dweight", wt, dw, loss);
}

TEST(GradCheck, GeluAndSwiglu) {
  const int64_t n = 40;
  auto x = random_vec(n, 57, -4.0f, 4.0f), up = random_vec(n, 58);
  const auto w = random_vec(n, 59);
  std::vector<float> out(n);
  for (GeluApprox ap : {GeluApprox::kTanh, GeluApprox::kErf}) {
    auto loss = [&] {
      ref::gelu_forward(out.data(), x.data(), n, ap);
      return weighted_sum(out, w);
    };
    std::vector<float> dx(n);
    ref::gelu_backward(dx.data(), x.data(), w.data(), n, ap);
    expect_fd_gradient(ap == GeluApprox::kTanh ? "gelu tanh" : "gelu erf", x, dx, loss, n);
  }
  auto loss = [&] {
    ref::swiglu_forward(out.data(), x.data(), up.data(), n);
    return weighted_sum(out, w);
  };
  std::vector<float> dg(n), du(n);
  ref::swiglu_backward(dg.data(), du.data(), x.data(), up.data(), w.data(), n);
  expect_fd_gradient("swiglu dgate", x, dg, loss, n);
  expect_fd_gradient("swiglu dup", up, du, loss, n);
}

TEST(GradCheck, CrossEntropySmoothingIgnoreIndex) {
  const int64_t N = 4, V = 9;
  constexpr int32_t kIgnore = -1;
  auto z = random_vec(N * V, 60, -3.0f, 3.0f);
  const std::vector<int32_t> targets = {3, kIgnore, 0, 8};
  const auto w = random_vec(N, 61);  // per-row upstream weights
  std::vector<float> losses(N), lse(N);
  for (float eps : {0.0f, 0.2f}) {
    auto loss = [&] {
      ref::cross_entropy_forward(losses.data(), lse.data(), z.data(), targets.data(), N, V, eps, kIgnore);
      return weighted_sum(losses, w);
    };
    loss();
    // The backward takes one dloss for all rows: assemble row by row.
    std::vector<float> grad(N * V), row(V);
    for (int64_t r = 0; r < N; ++r) {
      ref::cross_entropy_backward(row.data(), z.data() + r * V, lse.data() + r, targets.data() + r, 1, V, eps, kIgnore, w[r]);
      std::copy(row.begin(), row.end(), grad.begin() + r * V);
    }
    expect_fd_gradient("cross_entropy eps=" + std::to_string(eps), z, grad, loss, N * V);
    for (int64_t c = 0; c < V; ++c) EXPECT_EQ(grad[1 * V + c], 0.0f) << "ignored row has gradient";
  }
}

// Attention with GQA, windows and ALiBi; the last two cases with dropout on probabilities at a fixed seed
// (the mask is then a constant of q, k, v, so the loss stays smooth).
TEST(GradCheck, AttentionGqaWindowAlibiDropout) {
  struct Case {
    int64_t T, H, Hkv, D, window;
    bool alibi;
    float dropout_p;
  };
  for (const Case& c : {Case{6, 4, 2, 4, 0, false, 0.0f}, Case{7, 4, 1, 4, 3, true, 0.0f}, Case{5, 2, 2, 8, 0, true, 0.0f},
                        Case{6, 4, 2, 4, 0, false, 0.3f}, Case{7, 4, 1, 4, 3, true, 0.5f}}) {
    const int64_t B = 2, N = B * c.T;
    std::vector<float> slopes(c.H);
    ref::alibi_slopes(slopes.data(), c.H);
    const AttentionDims dims{.B = B, .T = c.T, .H = c.H, .Hkv = c.Hkv, .D = c.D, .window = c.window,
                             .alibi_slopes = c.alibi ? slopes.data() : nullptr, .dropout_p = c.dropout_p,
                             .dropout_seed = 77};
    auto q = random_vec(N * c.H * c.D, 62), k = random_vec(N * c.Hkv * c.D, 63), v = random_vec(N * c.Hkv * c.D, 64);
    const auto w = random_vec(N * c.H * c.D, 65);
    std::vector<float> out(N * c.H * c.D), lse(B * c.H * c.T);
    auto loss = [&] {
      ref::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims);
      return weighted_sum(out, w);
    };
    loss();
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    ref::attention_backward(dq.data(), dk.data(), dv.data(), w.data(), out.data(), lse.data(), q.data(), k.data(), v.data(), dims);
    const std::string what = "attention (dropout " + std::to_string(c.dropout_p) + ") ";
    expect_fd_gradient(what + "dq", q, dq, loss, 40);
    expect_fd_gradient(what + "dk", k, dk, loss, 40);
    expect_fd_gradient(what + "dv", v, dv, loss, 40);
  }
}

TEST(GradCheck, Rope) {
  const int64_t B = 1, T = 3, H = 2, D = 8;
  std::vector<float> cs(T * D / 2), sn(T * D / 2);
  ref::rope_table(cs.data(), sn.data(), T, D, 10000.0f, 5);
  for (RopeStyle st : {RopeStyle::kHalfSplit, RopeStyle::kInterleaved}) {
    auto x = random_vec(B * T * H * D, 66);
    const auto w = random_vec(x.size(), 67);
    std::vector<float> out;
    auto loss = [&] {
      out = x;
      ref::rope_forward(out.data(), cs.data(), sn.data(), B, T, H, D, 0, st);
      return weighted_sum(out, w);
    };
    auto dx = w;
    ref::rope_backward(dx.data(), cs.data(), sn.data(), B, T, H, D, 0, st);
    expect_fd_gradient("rope", x, dx, loss, 48);
  }
}

TEST(GradCheck, Embedding) {
  const int64_t T = 3, N = 6, C = 4, V = 5;
  auto table = random_vec(V * C, 68), pos = random_vec(T * C, 69);
  const std::vector<int32_t> ids = {1, 4, 1, 0, 1, 3};
  const auto w = random_vec(N * C, 70);
  std::vector<float> out(N * C);
  auto loss = [&] {
    ref::embedding_forward(out.data(), ids.data(), table.data(), pos.data(), N, T, C);
    return weighted_sum(out, w);
  };
  std::vector<float> dt(V * C, 0.0f), dp(T * C, 0.0f);
  ref::embedding_backward(dt.data(), dp.data(), w.data(), ids.data(), N, T, C);
  expect_fd_gradient("embedding dtable", table, dt, loss, V * C);
  expect_fd_gradient("embedding dpos", pos, dp, loss, T * C);
}

}  // namespace
}  // namespace anvil::test
