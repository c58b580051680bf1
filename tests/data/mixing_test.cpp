// Mixing: shares are met by down-sampling the plentiful groups and up-sampling the scarce one up to
// max_epochs; per-document decisions are deterministic and average to the planned rate.
#include <gtest/gtest.h>

#include <cmath>

#include "anvil/data/mixing.h"

namespace anvil::data {
namespace {

constexpr double kShareTolerance = 0.02;

TEST(Mixing, PlanMeetsSharesWithCappedUpsampling) {
  // general 900 MB, domain 90 MB, synthetic 10 MB: synthetic needs 10× to reach 10% of ~1 GB, but
  // max_epochs = 4 caps it, so the output shrinks to 400 MB and the others are down-sampled.
  std::map<std::string, std::pair<uint64_t, uint64_t>> data = {
      {"general", {900'000'000, 900'000}}, {"domain", {90'000'000, 90'000}}, {"synthetic", {10'000'000, 100'000}}};
  auto plan = plan_mixture(data, {});
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_NEAR(plan->total_bytes, 400'000'000, 1);
  EXPECT_NEAR(plan->groups["synthetic"].rate, 4.0, 1e-9);
  EXPECT_NEAR(plan->groups["general"].rate, 0.6 * 400.0 / 900.0, 1e-9);
  EXPECT_NEAR(plan->groups["domain"].rate, 0.3 * 400.0 / 90.0, 1e-9);
  EXPECT_NE(plan->note.find("synthetic"), std::string::npos);
  double out = 0;
  std::map<std::string, double> got;
  for (const auto& [g, gp] : plan->groups) got[g] = gp.rate * static_cast<double>(gp.input_bytes), out += got[g];
  for (const auto& [g, b] : got) EXPECT_NEAR(b / out, plan->groups[g].target_share, 1e-9) << g;
}

TEST(Mixing, PerDocumentCopiesAverageToTheRate) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> data = {{"general", {600, 600}}, {"domain", {100, 100}}};
  MixOptions opt{.shares = {{"general", 0.5}, {"domain", 0.5}}, .max_epochs = 2.5};
  auto plan = plan_mixture(data, opt);
  ASSERT_TRUE(plan.ok());
  for (const auto& [g, gp] : plan->groups) {
    double copies = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) copies += mix_copies(*plan, g, g + std::to_string(i), 7);
    EXPECT_NEAR(copies / n, gp.rate, kShareTolerance * std::max(1.0, gp.rate)) << g;
    EXPECT_EQ(mix_copies(*plan, g, "doc-1", 7), mix_copies(*plan, g, "doc-1", 7));
  }
  EXPECT_NEAR(plan->groups["domain"].rate, 2.5, 1e-9);
}

TEST(Mixing, Errors) {
  EXPECT_FALSE(plan_mixture({{"web", {10, 1}}}, {}).ok());  // group without a share
  EXPECT_FALSE(plan_mixture({{"general", {10, 1}}}, {.max_epochs = 0.5}).ok());
  auto plan = plan_mixture({{"general", {10, 1}}}, {});
  ASSERT_TRUE(plan.ok());  // domain and synthetic are missing: renormalised, noted
  EXPECT_NEAR(plan->groups["general"].target_share, 1.0, 1e-12);
  EXPECT_NE(plan->note.find("no data"), std::string::npos);
}

}  // namespace
}  // namespace anvil::data
