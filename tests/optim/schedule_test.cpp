// LR schedules: HF step indexing (the first optimizer step uses lr(0) = 0 under warmup), warmup
// from steps or a fraction, cosine/linear/constant shapes, the min_lr floor, and option errors.
// The comparison with transformers' formulas evaluated in Python is in optim_reference_test.cpp.
#include "anvil/optim/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace anvil::optim {
namespace {

constexpr double kExact = 0.0;
constexpr double kCosineTol = 1e-15;  // one rounding of cos() around 1e-3-sized values

LrSchedule make(const ScheduleOptions& o) {
  auto s = LrSchedule::create(o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return *s;
}

TEST(Schedule, CosineWithWarmupFollowsHfIndexing) {
  const LrSchedule s = make({.kind = ScheduleKind::kCosine, .peak_lr = 1e-3, .total_steps = 100, .warmup_steps = 10});
  EXPECT_EQ(s.lr(0), 0.0);  // the first optimizer step
  EXPECT_NEAR(s.lr(1), 1e-4, kExact);
  EXPECT_NEAR(s.lr(5), 5e-4, kExact);
  EXPECT_EQ(s.lr(10), 1e-3);  // peak right after warmup
  EXPECT_NEAR(s.lr(55), 0.5e-3, kCosineTol);  // half way through the decay
  EXPECT_NEAR(s.lr(100), 0.0, kCosineTol);
  EXPECT_NEAR(s.lr(250), 0.0, kCosineTol);  // held after N (HF would rise again)
  for (int64_t t = 11; t <= 100; ++t) EXPECT_LE(s.lr(t), s.lr(t - 1)) << t;
}

TEST(Schedule, MinLrFloorAndWarmupFraction) {
  const LrSchedule s = make({.kind = ScheduleKind::kCosine, .peak_lr = 6e-4, .min_lr = 6e-5, .total_steps = 1000,
                             .warmup_fraction = 0.0105});
  EXPECT_EQ(s.warmup_steps(), 11);  // ceil(10.5)
  EXPECT_NEAR(s.lr(1000), 6e-5, 1e-18);
  EXPECT_NEAR(s.lr(5000), 6e-5, 1e-18);
  const double p = (500.0 - 11) / (1000 - 11);
  EXPECT_NEAR(s.lr(500), 6e-5 + (6e-4 - 6e-5) * 0.5 * (1 + std::cos(std::numbers::pi * p)), 1e-17);
}

TEST(Schedule, LinearAndConstant) {
  const LrSchedule lin = make({.kind = ScheduleKind::kLinear, .peak_lr = 2.0, .total_steps = 10, .warmup_steps = 2});
  std::vector<double> got;
  for (int t = 0; t <= 11; ++t) got.push_back(lin.lr(t));
  EXPECT_EQ(got, (std::vector<double>{0, 1, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, 0}));
  const LrSchedule c = make({.kind = ScheduleKind::kConstant, .peak_lr = 3.0, .warmup_steps = 3});
  EXPECT_EQ(c.lr(0), 0.0);
  EXPECT_EQ(c.lr(1), 1.0);
  EXPECT_EQ(c.lr(3), 3.0);
  EXPECT_EQ(c.lr(1000000), 3.0);
  // No warmup: the first step already runs at the peak.
  EXPECT_EQ(make({.kind = ScheduleKind::kCosine, .peak_lr = 1.0, .total_steps = 5, .warmup_steps = 0}).lr(0), 1.0);
}

TEST(Schedule, OptionErrors) {
  EXPECT_FALSE(LrSchedule::create({.total_steps = 0}).ok());
  EXPECT_FALSE(LrSchedule::create({.peak_lr = 1e-3, .min_lr = 1e-2, .total_steps = 10}).ok());
  EXPECT_NE(LrSchedule::create({.total_steps = 10, .warmup_steps = 11}).status().message().find(
                "warmup_steps = 11 exceeds total_steps = 10"),
            std::string::npos);
  EXPECT_FALSE(LrSchedule::create({.total_steps = 10, .warmup_fraction = 1.5}).ok());
  EXPECT_EQ(*schedule_kind_from_name("linear"), ScheduleKind::kLinear);
  EXPECT_NE(schedule_kind_from_name("step").status().message().find("unknown schedule 'step'"), std::string::npos);
}

}  // namespace
}  // namespace anvil::optim
