// dtype conversions against independent references: the CPU's F16C instructions (VCVTPH2PS /
// VCVTPS2PH with round-to-nearest-even) for f16, and a "pick the nearer neighbour in double"
// reference for bf16. f16 -> f32 is checked for all 65536 patterns; f32 -> f16 and f32 -> bf16 at
// every tie, one ulp either side of it, and random bit patterns (all 2^32 in dtype_exhaustive_test).
#include "anvil/core/dtype.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "anvil/base/rng.h"
#include "dtype_reference.h"

namespace anvil {
namespace {

using test::bits_of;
using test::float_of;

constexpr int kRandomSamples = 1 << 20;

TEST(BF16, RoundsToNearestEvenAtTies) {
  // 1 + 2^-8 lies halfway between bf16 1.0 (even mantissa) and 1 + 2^-7: stays at 1.0.
  EXPECT_EQ(f32_to_bf16(float_of(0x3f808000u)).bits, 0x3f80);
  // Halfway between 0x3f81 (odd) and 0x3f82: goes up to the even one.
  EXPECT_EQ(f32_to_bf16(float_of(0x3f818000u)).bits, 0x3f82);
  // Just above / below a tie.
  EXPECT_EQ(f32_to_bf16(float_of(0x3f808001u)).bits, 0x3f81);
  EXPECT_EQ(f32_to_bf16(float_of(0x3f817fffu)).bits, 0x3f81);
  EXPECT_EQ(f32_to_bf16(-1.0f).bits, 0xbf80);
}

TEST(BF16, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_bf16(inf).bits, 0x7f80);
  EXPECT_EQ(f32_to_bf16(-inf).bits, 0xff80);
  EXPECT_EQ(f32_to_bf16(0.0f).bits, 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f).bits, 0x8000);
  // FLT_MAX is past the midpoint between bf16's largest finite (0x7f7f) and inf: rounds to inf.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()).bits, 0x7f80);
  EXPECT_EQ(f32_to_bf16(float_of(0x7f7f7fffu)).bits, 0x7f7f);
  // Every NaN stays NaN, including signalling ones whose payload lives only in the low 16 bits
  // (plain rounding would turn 0x7f800001 into inf).
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0x7f80ffffu}) {
    const bf16_t b = f32_to_bf16(float_of(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(b))) << std::hex << nan;
    EXPECT_EQ(b.bits & 0x8000, (nan >> 16) & 0x8000) << "sign of " << std::hex << nan;
  }
  // bf16 -> f32 is exact: every non-NaN pattern round-trips.
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = bf16_to_f32(bf16_t{static_cast<uint16_t>(h)});
    EXPECT_EQ(bits_of(f), h << 16);
    if (!std::isnan(f)) {
      EXPECT_EQ(f32_to_bf16(f).bits, h);
    }
  }
}

TEST(BF16, MatchesNearestNeighbourReferenceAtTiesAndRandomBits) {
  int n_checked = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {  // each tie between h and h+1, and one ulp either side
    const uint32_t tie = (h << 16) | 0x8000u;
    for (uint32_t u : {tie - 1, tie, tie + 1}) {
      ASSERT_TRUE(test::bf16_same(f32_to_bf16(float_of(u)).bits, test::bf16_reference(u))) << std::hex << u;
      ++n_checked;
    }
  }
  Rng rng(1234);
  for (int i = 0; i < kRandomSamples; ++i) {
    const uint32_t u = static_cast<uint32_t>(rng.next_u64());
    ASSERT_TRUE(test::bf16_same(f32_to_bf16(float_of(u)).bits, test::bf16_reference(u))) << std::hex << u;
  }
  EXPECT_EQ(n_checked, 3 * 0x10000);
}

#ifdef __F16C__

TEST(F16, AllPatternsToF32MatchF16C) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float ours = f16_to_f32(f16_t{static_cast<uint16_t>(h)});
    const float hw = _cvtsh_ss(static_cast<unsigned short>(h));
    if (std::isnan(hw)) {
      ASSERT_TRUE(std::isnan(ours)) << std::hex << h;
      ASSERT_EQ(std::signbit(ours), std::signbit(hw)) << std::hex << h;
    } else {
      ASSERT_EQ(bits_of(ours), bits_of(hw)) << "f16 bits 0x" << std::hex << h;
    }
  }
}

TEST(F16, FromF32MatchesF16CAtEveryTieAndNeighbours) {
  // Ties between adjacent f16 values (including every subnormal pair and the 65504 / inf edge),
  // and one f32 ulp either side of each tie.
  int n_checked = 0;
  for (uint32_t h = 0; h < 0x7c00u; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const double lo = f16_to_f32(f16_t{static_cast<uint16_t>(h | sign)});
      const double hi = h + 1 < 0x7c00u ? f16_to_f32(f16_t{static_cast<uint16_t>((h + 1) | sign)})
                                        : (sign ? -65536.0 : 65536.0);  // where inf takes over
      const float mid = static_cast<float>((lo + hi) / 2);  // exact: 12 significant bits
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      for (float f : {std::nextafter(mid, -INFINITY), mid, std::nextafter(mid, INFINITY),
                      static_cast<float>(lo)}) {
        ASSERT_EQ(f32_to_f16(f).bits, test::f16_hw(f)) << "f32 " << f << " bits 0x" << std::hex << bits_of(f);
        ++n_checked;
      }
    }
  }
  EXPECT_EQ(n_checked, 4 * 2 * 0x7c00);
}

TEST(F16, FromF32MatchesF16COnRandomBits) {
  Rng rng(99);
  for (int i = 0; i < kRandomSamples; ++i) {
    const float f = float_of(static_cast<uint32_t>(rng.next_u64()));
    ASSERT_TRUE(test::f16_same(f32_to_f16(f).bits, test::f16_hw(f))) << std::hex << bits_of(f);
  }
}

#endif  // __F16C__

TEST(F16, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16(65504.0f).bits, 0x7bff);        // largest finite half
  EXPECT_EQ(f32_to_f16(65519.99f).bits, 0x7bff);       // below the midpoint to inf
  EXPECT_EQ(f32_to_f16(65520.0f).bits, 0x7c00);        // the midpoint: ties to even = inf
  EXPECT_EQ(f32_to_f16(1e10f).bits, 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f).bits, 0xfc00);
  EXPECT_EQ(f32_to_f16(inf).bits, 0x7c00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)).bits, 0x0000);  // half of it: ties to even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)).bits, 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(-0.0f).bits, 0x8000);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(float_of(0x7f800001u)))));  // signalling NaN
  EXPECT_EQ(f16_to_f32(f16_t{0x7c00}), inf);
  EXPECT_EQ(f16_to_f32(f16_t{0x0001}), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(f16_t{0x03ff}), std::ldexp(1023.0f, -24));  // largest subnormal
}

TEST(Convert, FloatToIntTruncatesAndSaturates) {
  const float src[] = {2.9f, -2.9f, 300.0f, -300.0f, std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f};
  int8_t i8[7];
  convert(src, DType::kF32, i8, DType::kI8, 7);
  EXPECT_EQ(std::vector<int>(i8, i8 + 7), (std::vector<int>{2, -2, 127, -128, 0, 127, -128}));
  int32_t i32[7];
  convert(src, DType::kF32, i32, DType::kI32, 7);
  EXPECT_EQ(i32[5], std::numeric_limits<int32_t>::max());
  EXPECT_EQ(i32[6], std::numeric_limits<int32_t>::min());
  int64_t i64[7];
  convert(src, DType::kF32, i64, DType::kI64, 7);
  EXPECT_EQ(i64[0], 2);
  EXPECT_EQ(i64[5], std::numeric_limits<int64_t>::max());
}

TEST(Convert, Int64ToF32RoundsOnce) {
  // 2^60 + 2^36 + 1 is just above the midpoint between 2^60 and 2^60 + 2^37: rounds up. Going
  // through double first would lose the +1 and then tie to even (down).
  const int64_t v = (int64_t{1} << 60) + (int64_t{1} << 36) + 1;
  float f = 0;
  convert(&v, DType::kI64, &f, DType::kF32, 1);
  EXPECT_EQ(f, std::ldexp(1.0f, 60) + std::ldexp(1.0f, 37));
}

TEST(Convert, BetweenFloatFormatsAndIntegers) {
  const std::vector<float> src = {0.5f, -1.25f, 3.0f, 65280.0f};  // exact in bf16 and f16
  std::vector<bf16_t> b(4);
  std::vector<f16_t> h(4);
  std::vector<float> back(4);
  convert(src.data(), DType::kF32, b.data(), DType::kBF16, 4);
  convert(b.data(), DType::kBF16, h.data(), DType::kF16, 4);
  convert(h.data(), DType::kF16, back.data(), DType::kF32, 4);
  EXPECT_EQ(back, src);
  const int32_t ints[] = {-7, 100000, 1 << 30};
  int8_t narrow[3];
  convert(ints, DType::kI32, narrow, DType::kI8, 3);
  EXPECT_EQ(narrow[0], -7);
  EXPECT_EQ(narrow[1], static_cast<int8_t>(100000 & 0xff));  // modular, as C++20 defines
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_STREQ(dtype_name(DType::kBF16), "BF16");
  EXPECT_EQ(*dtype_from_name("I32"), DType::kI32);
  EXPECT_FALSE(dtype_from_name("F64").ok());
}

}  // namespace
}  // namespace anvil
