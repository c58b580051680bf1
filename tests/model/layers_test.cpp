// Finite-difference checks of each building block's backward in isolation (model/layers.h): Linear in
// both weight layouts, with bias and strided rows, and Norm as LayerNorm and RMSNorm. The scalar probed
// is L = sum(out * R) for a fixed random R, so dout = R; inputs, weights and biases are all checked,
// including the accumulate (+=) contract of every backward.
#include <functional>

#include "model_test_util.h"
#include "anvil/model/layers.h"

namespace anvil::model {
namespace {

constexpr double kStep = 1e-2;           // central-difference step
constexpr double kTolerance = 2e-3;      // |fd - analytic| <= kTolerance * (1 + |analytic|), fp32 sums
constexpr float kAccumulatePrefill = 0.5f;  // gradients start here to check += rather than =

std::vector<float> randn(Rng& rng, int64_t n, float s = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = s * static_cast<float>(rng.normal());
  return v;
}

// Checks d(probe)/d(x[i]) against grad[i] - prefill for every entry of x.
void check_fd(const char* what, std::vector<float>& x, const std::vector<float>& grad, float prefill,
              const std::function<double()>& probe) {
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    x[i] = static_cast<float>(saved + kStep);
    const double up = probe();
    x[i] = static_cast<float>(saved - kStep);
    const double down = probe();
    x[i] = saved;
    const double fd = (up - down) / (2 * kStep), an = grad[i] - prefill;
    ASSERT_LE(std::fabs(fd - an), kTolerance * (1 + std::fabs(an))) << what << "[" << i << "]";
  }
}

void check_linear(WeightLayout layout, bool bias, int64_t ldi_extra, int64_t ldo_extra) {
  const int64_t N = 5, in = 6, out = 4, ldi = in + ldi_extra, ldo = out + ldo_extra;
  Rng rng(1);
  std::vector<float> x = randn(rng, N * ldi), w = randn(rng, in * out, 0.5f), b = randn(rng, out, 0.1f);
  const std::vector<float> r = randn(rng, N * ldo);
  std::vector<float> y(static_cast<size_t>(N * ldo));
  KernelTimer timer;
  const LinearCall call{.timer = &timer, .N = N};
  auto lin = [&] {
    return Linear{.w = w.data(), .b = bias ? b.data() : nullptr, .in = in, .out = out, .layout = layout};
  };
  auto probe = [&] {
    linear_forward(call, lin(), y.data(), ldo, x.data(), ldi);
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < out; ++j) s += static_cast<double>(y[n * ldo + j]) * r[n * ldo + j];
    return s;
  };
  std::vector<float> dx(static_cast<size_t>(N * in), kAccumulatePrefill), dw(w.size(), kAccumulatePrefill),
      db(b.size(), kAccumulatePrefill);
  Linear l = lin();
  l.dw = dw.data(), l.db = bias ? db.data() : nullptr;
  linear_backward(call, l, dx.data(), 1.0f, r.data(), ldo, x.data(), ldi);
  std::vector<float> dx_strided(x.size(), kAccumulatePrefill);  // dinp is packed (N, in); map onto x's rows
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < in; ++k) dx_strided[n * ldi + k] = dx[n * in + k];
  check_fd("dx", x, dx_strided, kAccumulatePrefill, probe);
  check_fd("dw", w, dw, kAccumulatePrefill, probe);
  if (bias) check_fd("db", b, db, kAccumulatePrefill, probe);
}

TEST(LayersTest, LinearConv1DLayoutBackward) { check_linear(WeightLayout::kInOut, true, 0, 0); }
TEST(LayersTest, LinearNnLinearLayoutStridedBackward) { check_linear(WeightLayout::kOutIn, true, 3, 2); }
TEST(LayersTest, LinearNoBiasBackward) { check_linear(WeightLayout::kOutIn, false, 0, 1); }

void check_norm(bool rms) {
  const int64_t N = 4, C = 7;
  Rng rng(2);
  std::vector<float> x = randn(rng, N * C), w = randn(rng, C, 0.3f), b = randn(rng, C, 0.1f);
  for (float& v : w) v += 1.0f;
  const std::vector<float> r = randn(rng, N * C);
  std::vector<float> y(x.size()), mean(N), rstd(N);
  KernelTimer timer;
  auto norm = [&] { return Norm{.w = w.data(), .b = rms ? nullptr : b.data(), .rms = rms, .eps = 1e-5f, .C = C}; };
  auto probe = [&] {
    norm_forward(timer, norm(), y.data(), mean.data(), rstd.data(), x.data(), N);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
    return s;
  };
  probe();
  std::vector<float> dx(x.size(), kAccumulatePrefill), dw(w.size(), kAccumulatePrefill), db(b.size(), kAccumulatePrefill);
  Norm n = norm();
  n.dw = dw.data(), n.db = rms ? nullptr : db.data();
  norm_backward(timer, n, dx.data(), r.data(), x.data(), mean.data(), rstd.data(), N);
  check_fd("dx", x, dx, kAccumulatePrefill, probe);
  check_fd("dw", w, dw, kAccumulatePrefill, probe);
  if (!rms) check_fd("db", b, db, kAccumulatePrefill, probe);
}

TEST(LayersTest, LayerNormBackward) { check_norm(false); }
TEST(LayersTest, RmsNormBackward) { check_norm(true); }

}  // namespace
}  // namespace anvil::model
