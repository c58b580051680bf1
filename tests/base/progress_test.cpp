#include "anvil/base/progress.h"
#include "anvil/base/sysinfo.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace anvil {
namespace {

TEST(Progress, HumanFormats) {
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1234), "1.2k");
  EXPECT_EQ(human_count(45.6e6), "45.6M");
  EXPECT_EQ(human_duration(5), "0:05");
  EXPECT_EQ(human_duration(3723), "1:02:03");
  EXPECT_EQ(human_duration(-1), "?");
}

TEST(Progress, WritesAFinalLineWithTotals) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("merging", 2000, "merges", f);
    p.update(1000);
    p.finish();
  }
  std::rewind(f);
  std::vector<char> buf(4096, 0);
  const size_t n = std::fread(buf.data(), 1, buf.size() - 1, f);
  std::fclose(f);
  const std::string out(buf.data(), n);
  EXPECT_NE(out.find("merging  1.0k/2.0k merges"), std::string::npos) << out;
  EXPECT_NE(out.find("done in"), std::string::npos) << out;
}

TEST(SysInfo, ReportsResidentMemory) {
  std::vector<char> big(64 << 20, 1);  // touch 64 MiB
  const MemoryUsage m = memory_usage();
  EXPECT_GT(m.rss_bytes, 32u << 20);
  EXPECT_GE(m.peak_rss_bytes, m.rss_bytes);
  EXPECT_EQ(big[12345], 1);
}

}  // namespace
}  // namespace anvil
