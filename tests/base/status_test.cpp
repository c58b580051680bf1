#include "anvil/base/status.h"

#include <gtest/gtest.h>

namespace anvil {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("[test.parse] expected a positive value, got {}", x);
  return x;
}

Result<int> doubled(int x) {
  ANVIL_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return 2 * v;
}

Status check_both(int a, int b) {
  ANVIL_RETURN_IF_ERROR(parse_positive(a).status());
  ANVIL_RETURN_IF_ERROR(parse_positive(b).status());
  return ok_status();
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = io_error("[file.read] cannot open '{}'", "x.bin");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.to_string(), "io_error: [file.read] cannot open 'x.bin'");
  EXPECT_EQ(s.with_context("loading run").message(), "loading run: [file.read] cannot open 'x.bin'");
  EXPECT_TRUE(ok_status().ok());
}

TEST(Result, PropagatesValuesAndErrors) {
  Result<int> good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("got -1"), std::string::npos);
  EXPECT_TRUE(check_both(1, 2).ok());
  EXPECT_FALSE(check_both(1, 0).ok());
}

}  // namespace
}  // namespace anvil
