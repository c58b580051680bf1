// Helpers shared by the kernel tests: seeded random buffers, element-wise closeness with named
// tolerances (|got - want| <= atol + rtol |want|), and a central-difference gradient checker in double.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace anvil::test {

// fp32 kernels against the double-accumulating reference: a few ulps of the largest terms.
inline constexpr double kRtolF32 = 2e-5;
inline constexpr double kAtolF32 = 2e-5;
// Finite differences on the reference (fp32 outputs, step kFdStep): truncation O(h^2) + rounding eps/h.
inline constexpr double kFdStep = 1e-2;
inline constexpr double kFdRtol = 1e-2;
inline constexpr double kFdAtol = 2e-3;

inline std::vector<float> random_vec(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

inline std::vector<int32_t> random_ids(int64_t n, int32_t V, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, V - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v) x = dist(gen);
  return v;
}

// Reports the first few elements outside atol + rtol |want|, and the worst one.
inline void expect_close(const std::string& what, const float* got, const float* want, int64_t n, double rtol,
                         double atol) {
  int64_t n_bad = 0, worst = -1;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[i];
    const double err = std::fabs(g - w), allowed = atol + rtol * std::fabs(w);
    if (!(err <= allowed) && !(std::isinf(w) && g == w)) {
      if (n_bad < 5) ADD_FAILURE() << what << "[" << i << "]: got " << g << " want " << w << " (err " << err << " > " << allowed << ")";
      ++n_bad;
      if (!(err - allowed <= worst_excess)) {
        worst_excess = err - allowed;
        worst = i;
      }
    }
  }
  if (n_bad > 0) ADD_FAILURE() << what << ": " << n_bad << " of " << n << " elements off, worst at " << worst;
}

inline void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                         double rtol = kRtolF32, double atol = kAtolF32) {
  ASSERT_EQ(got.size(), want.size()) << what;
  expect_close(what, got.data(), want.data(), static_cast<int64_t>(got.size()), rtol, atol);
}

// Central differences of loss() with respect to x[i] for up to n_probe indices spread over x, compared
// with the analytic gradient grad[i]. loss() reads x (which this function perturbs and restores).
inline void expect_fd_gradient(const std::string& what, std::vector<float>& x, const std::vector<float>& grad,
                               const std::function<double()>& loss, int64_t n_probe = 24) {
  ASSERT_EQ(x.size(), grad.size()) << what;
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t step = std::max<int64_t>(1, n / n_probe);
  for (int64_t i = 0; i < n; i += step) {
    const float saved = x[i];
    x[i] = static_cast<float>(saved + kFdStep);
    const double up = loss();
    x[i] = static_cast<float>(saved - kFdStep);
    const double down = loss();
    x[i] = saved;
    const double h = (static_cast<double>(static_cast<float>(saved + kFdStep)) -
                      static_cast<double>(static_cast<float>(saved - kFdStep)));
    const double fd = (up - down) / h;
    EXPECT_NEAR(grad[i], fd, kFdAtol + kFdRtol * std::fabs(fd)) << what << " d/dx[" << i << "]";
  }
}

// sum_i out[i] * w[i] in double: a scalar loss whose gradient with respect to out is w.
inline double weighted_sum(const std::vector<float>& out, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * w[i];
  return s;
}

}  // namespace anvil::test
