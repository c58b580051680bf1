// Every one of the 2^32 f32 bit patterns through f32_to_f16 (against F16C VCVTPS2PH, round to
// nearest even) and f32_to_bf16 (against the nearer-neighbour reference). Label `slow` (~30 s on
// 2 cores); dtype_test.cpp covers every tie and its neighbours in the fast set.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>

#include "anvil/core/dtype.h"
#include "dtype_reference.h"

namespace anvil {
namespace {

TEST(DTypeExhaustive, AllF32PatternsToF16AndBF16) {
  std::atomic<uint64_t> first_f16_bad{UINT64_MAX}, first_bf16_bad{UINT64_MAX};
  int64_t n_f16_bad = 0, n_bf16_bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : n_f16_bad, n_bf16_bad)
  for (int64_t i = 0; i < (int64_t{1} << 32); ++i) {
    const uint32_t u = static_cast<uint32_t>(i);
    const float f = test::float_of(u);
#ifdef __F16C__
    if (!test::f16_same(f32_to_f16(f).bits, test::f16_hw(f))) {
      ++n_f16_bad;
      uint64_t cur = first_f16_bad.load();
      while (u < cur && !first_f16_bad.compare_exchange_weak(cur, u)) {
      }
    }
#endif
    if (!test::bf16_same(f32_to_bf16(f).bits, test::bf16_reference(u))) {
      ++n_bf16_bad;
      uint64_t cur = first_bf16_bad.load();
      while (u < cur && !first_bf16_bad.compare_exchange_weak(cur, u)) {
      }
    }
  }
  EXPECT_EQ(n_f16_bad, 0) << "first bad f32 bits 0x" << std::hex << first_f16_bad.load();
  EXPECT_EQ(n_bf16_bad, 0) << "first bad f32 bits 0x" << std::hex << first_bf16_bad.load();
}

}  // namespace
}  // namespace anvil
