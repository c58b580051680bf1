// StopMatcher: stop strings split across pieces are found and never emitted; text that only looks like
// the start of a stop string is held back and released when it turns out not to be one.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "anvil/infer/stop.h"

namespace anvil::infer {
namespace {

std::string run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces, bool* stopped,
                std::vector<std::string>* emitted = nullptr) {
  StopMatcher m(stops);
  std::string out;
  for (const std::string& p : pieces) {
    const std::string e = m.push(p);
    if (emitted) emitted->push_back(e);
    out += e;
    if (m.stopped()) break;
  }
  if (!m.stopped()) out += m.finish();
  *stopped = m.stopped();
  EXPECT_EQ(out, m.text());
  return out;
}

TEST(StopMatcher, FindsStopsAcrossPieces) {
  bool stopped = false;
  std::vector<std::string> emitted;
  EXPECT_EQ(run({"###"}, {"Hel", "lo #", "#", "# world"}, &stopped, &emitted), "Hello ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(emitted, (std::vector<std::string>{"Hel", "lo ", "", ""}));  // "#", "##" held back
  EXPECT_EQ(run({"\n\n", "END"}, {"a\nb", "\nc E", "ND"}, &stopped), "a\nb\nc ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run({"abc"}, {"xabcy"}, &stopped), "x");  // inside one piece
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, ReleasesFalseAlarms) {
  bool stopped = false;
  std::vector<std::string> emitted;
  EXPECT_EQ(run({"###"}, {"a #", "#b", " c ##"}, &stopped, &emitted), "a ##b c ##");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(emitted, (std::vector<std::string>{"a ", "##b", " c "}));  // the final "##" comes from finish()
  EXPECT_EQ(run({}, {"no", " stops"}, &stopped), "no stops");
  EXPECT_EQ(run({"", "ab"}, {"xa", "c"}, &stopped), "xac");  // empty stop strings are ignored
  EXPECT_FALSE(stopped);
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  bool stopped = false;
  EXPECT_EQ(run({"world", "lo w"}, {"hello world"}, &stopped), "hel");
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace anvil::infer
