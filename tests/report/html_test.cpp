// html.h: escaping and number formats used in every report page.
#include <cmath>

#include <gtest/gtest.h>

#include "anvil/report/html.h"

namespace anvil::report {
namespace {

TEST(HtmlEscape, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape(R"(<a href="x" title='y'>Tom & Jerry</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jerry&lt;/a&gt;");
}

TEST(HtmlEscape, LeavesOtherBytesAlone) {
  EXPECT_EQ(html_escape("loss 2.5 — 损失 ✓\n\ttab"), "loss 2.5 — 损失 ✓\n\ttab");
  EXPECT_EQ(html_escape(""), "");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;");  // escaping is not idempotent: escape exactly once
}

TEST(FormatCompact, PicksSuffixDecimalsOrScientific) {
  EXPECT_EQ(format_compact(0), "0");
  EXPECT_EQ(format_compact(2.5), "2.5");
  EXPECT_EQ(format_compact(2.34567), "2.346");
  EXPECT_EQ(format_compact(123.456), "123.5");
  EXPECT_EQ(format_compact(0.0025), "0.0025");
  EXPECT_EQ(format_compact(3e-5), "3e-5");
  EXPECT_EQ(format_compact(-2.5e-4), "-2.5e-4");
  EXPECT_EQ(format_compact(9999), "9999");
  EXPECT_EQ(format_compact(12500), "12.5k");
  EXPECT_EQ(format_compact(8192000), "8.192M");
  EXPECT_EQ(format_compact(1e6), "1M");
  EXPECT_EQ(format_compact(3.2e9, 3), "3.2G");
  EXPECT_EQ(format_compact(NAN), "nan");
  EXPECT_EQ(format_compact(-INFINITY), "-inf");
}

TEST(FormatDuration, SecondsMinutesHours) {
  EXPECT_EQ(format_duration(42.04), "42.0 s");
  EXPECT_EQ(format_duration(725), "12 min 05 s");
  EXPECT_EQ(format_duration(3 * 3600 + 7 * 60 + 9), "3 h 07 min");
  EXPECT_EQ(format_duration(NAN), "—");
}

}  // namespace
}  // namespace anvil::report
