// small_linear (decode-sized linear layers) against model::linear_forward (ops::gemm) in both weight
// layouts, with and without bias, 1..kSmallLinearMaxRows rows at strided input/output, sizes on both sides
// of the threading threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/infer/small_linear.h"

namespace anvil::infer {
namespace {

constexpr double kLinearRelTol = 1e-5;  // fp32 dot products in another order

std::vector<float> normals(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(r.normal());
  return v;
}

TEST(SmallLinear, MatchesLinearForward) {
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (auto [in, out] : {std::pair<int64_t, int64_t>{5, 7}, {288, 768}, {300, 1000}}) {
      for (bool bias : {false, true}) {
        for (int64_t N : {int64_t{1}, int64_t{3}, kSmallLinearMaxRows}) {
          SCOPED_TRACE(testing::Message() << "layout=" << static_cast<int>(layout) << " in=" << in << " out=" << out
                                          << " bias=" << bias << " N=" << N);
          const auto w = normals(in * out, 1), b = normals(out, 2);
          const int64_t ldi = in + 3, ldo = out + 5;
          const auto x = normals(N * ldi, 3);
          const model::Linear lin{.w = w.data(), .b = bias ? b.data() : nullptr, .in = in, .out = out, .layout = layout};
          std::vector<float> got(static_cast<size_t>(N * ldo), 7.0f), want(got);
          small_linear(lin, got.data(), ldo, x.data(), ldi, N);
          model::KernelTimer timer;
          model::linear_forward(model::LinearCall{.timer = &timer, .N = N}, lin, want.data(), ldo, x.data(), ldi);
          double diff = 0.0, scale = 0.0;
          for (size_t i = 0; i < got.size(); ++i) {
            diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
            scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
          }
          EXPECT_LT(diff / scale, kLinearRelTol);
          for (int64_t n = 0; n < N; ++n)  // the padding between output rows is untouched
            for (int64_t c = out; c < ldo; ++c) EXPECT_EQ(got[static_cast<size_t>(n * ldo + c)], 7.0f);
        }
      }
    }
  }
}

}  // namespace
}  // namespace anvil::infer
