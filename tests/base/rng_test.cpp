#include "anvil/base/rng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace anvil {
namespace {

TEST(Rng, SameSeedSameStreamAndStateRoundTrips) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  Rng::State s = a.state();
  const uint64_t x = a.next_u64();
  b.set_state(s);
  EXPECT_EQ(b.next_u64(), x);
  EXPECT_NE(Rng(1).next_u64(), Rng(2).next_u64());
}

TEST(Rng, ForksAreIndependentAndDeterministic) {
  Rng base(7);
  Rng f1 = base.fork(1), f1b = base.fork(1), f2 = base.fork(2);
  EXPECT_EQ(f1.next_u64(), f1b.next_u64());
  EXPECT_NE(base.fork(1).next_u64(), f2.next_u64());
}

TEST(Rng, MomentsOfUniformAndNormal) {
  Rng r(3);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    const float u = r.uniform_f32();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    su += u;
    const double z = r.normal();
    sn += z;
    sn2 += z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.01);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.02);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(r.below(7), 7u);
}

}  // namespace
}  // namespace anvil
