// Accuracy of the vector transcendental functions of kernels/cpu/simd.h (erf, 1 + erf) over dense sweeps
// of fp32 inputs against double-precision std::erf / std::erfc, with the error bounds as named constants
// (ulp = 2^-24 relative for the relative bounds). The measured maxima are printed, next to those of
// glibc's fp32 erff on the same inputs for comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "anvil/kernels/cpu/simd.h"

namespace anvil::test {
namespace {

constexpr double kUlp = 5.9604644775390625e-8;  // 2^-24: half the spacing of floats in [1, 2)
// The bounds below sit just above the maxima of an exhaustive run over every float with |x| in [1e-6, 12]
// (erf 1.24e-7 abs, erf |x|<1 2.95 ulp rel, 1 + erf 7.8 ulp rel; glibc erff: 5e-8 abs).
// erf: absolute error over all x (2 ulp of the [0.5, 1) binade is 1.19e-7).
constexpr double kErfMaxAbsError = 1.3e-7;
// erf for |x| < 1 (the odd polynomial): relative error.
constexpr double kErfSmallMaxRelError = 3.5 * kUlp;
// 1 + erf(x): relative error everywhere (it is erfc(-x) for x <= -0.5), for values >= 1e-37.
constexpr double kOnePlusErfMaxRelError = 9.0 * kUlp;

// Every `stride`-th float bit pattern from lo to hi (both > 0), with both signs, plus special points.
std::vector<float> sweep(float lo, float hi, uint32_t stride) {
  uint32_t a, b;
  std::memcpy(&a, &lo, 4);
  std::memcpy(&b, &hi, 4);
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, 0.625f, -0.625f, 10.0f, -10.0f};
  for (uint32_t u = a; u <= b; u += stride) {
    float x;
    std::memcpy(&x, &u, 4);
    xs.push_back(x);
    xs.push_back(-x);
  }
  return xs;
}

template <typename Fn>
std::vector<float> apply(Fn fn, const std::vector<float>& xs) {
  std::vector<float> y = xs;
  fn(y.data(), static_cast<int64_t>(y.size()));
  return y;
}

TEST(SimdFunctions, ErfAndOnePlusErfBounds) {
  const auto xs = sweep(1e-30f, 12.0f, 509);  // 1.7M points per sign, 3e-5 relative apart
  const auto erf = apply(ops::simd::erf_inplace, xs), ope = apply(ops::simd::one_plus_erf_inplace, xs);
  double max_abs = 0, max_rel_small = 0, max_rel_ope = 0, glibc_abs = 0;
  float worst_abs = 0, worst_rel_small = 0, worst_ope = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], want = std::erf(x);
    const double abs_err = std::fabs(erf[i] - want);
    if (abs_err > max_abs) max_abs = abs_err, worst_abs = xs[i];
    glibc_abs = std::max(glibc_abs, std::fabs(static_cast<double>(std::erf(xs[i])) - want));
    if (std::fabs(x) < 1.0 && x != 0.0) {
      const double rel = abs_err / std::fabs(want);
      if (rel > max_rel_small) max_rel_small = rel, worst_rel_small = xs[i];
    }
    const double want_ope = x < 0 ? std::erfc(-x) : 1.0 + want;
    if (want_ope >= 1e-37) {
      const double rel = std::fabs(ope[i] - want_ope) / want_ope;
      if (rel > max_rel_ope) max_rel_ope = rel, worst_ope = xs[i];
    }
  }
  std::printf("erf: max abs error %.3g at x=%.9g (glibc erff: %.3g); |x|<1 max rel error %.3g ulp at x=%.9g\n",
              max_abs, worst_abs, glibc_abs, max_rel_small / kUlp, worst_rel_small);
  std::printf("1+erf: max rel error %.3g ulp at x=%.9g\n", max_rel_ope / kUlp, worst_ope);
  EXPECT_LE(max_abs, kErfMaxAbsError) << "at x=" << worst_abs;
  EXPECT_LE(max_rel_small, kErfSmallMaxRelError) << "at x=" << worst_rel_small;
  EXPECT_LE(max_rel_ope, kOnePlusErfMaxRelError) << "at x=" << worst_ope;
}

TEST(SimdFunctions, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> xs = {inf, -inf, nan, -0.0f, 0.0f, 1e30f, -1e30f};
  const auto erf = apply(ops::simd::erf_inplace, xs), ope = apply(ops::simd::one_plus_erf_inplace, xs);
  EXPECT_EQ(erf[0], 1.0f);
  EXPECT_EQ(erf[1], -1.0f);
  EXPECT_TRUE(std::isnan(erf[2]));
  EXPECT_TRUE(erf[3] == 0.0f && std::signbit(erf[3]));
  EXPECT_EQ(erf[5], 1.0f);
  EXPECT_EQ(erf[6], -1.0f);
  EXPECT_EQ(ope[0], 2.0f);
  EXPECT_EQ(ope[1], 0.0f);
  EXPECT_TRUE(std::isnan(ope[2]));
  EXPECT_EQ(ope[4], 1.0f);
  EXPECT_EQ(ope[6], 0.0f);
}

}  // namespace
}  // namespace anvil::test
