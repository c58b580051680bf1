#include "anvil/base/toml_reader.h"

#include <gtest/gtest.h>

namespace anvil {
namespace {

struct Demo {
  int64_t steps = 10;
  double lr = 1e-3;
  std::string optimizer = "adamw";
  bool bf16 = false;
  std::vector<double> betas{0.9, 0.95};
  std::vector<std::string> files;
};

Status read_demo(const std::string& text, Demo& d) {
  auto doc = TomlDocument::parse(text, "run.toml");
  if (!doc.ok()) return doc.status();
  TomlSection root = (*doc)->root();
  TomlSection train = root.section("train");
  train.get("steps", d.steps).get("lr", d.lr).get("bf16", d.bf16).get("betas", d.betas);
  train.get_choice("optimizer", d.optimizer, {"adamw", "lion"});
  root.section("data").require("files", d.files);
  return (*doc)->finish();
}

TEST(TomlReader, ReadsTypedValuesAndKeepsDefaults) {
  Demo d;
  Status s = read_demo("[train]\nsteps = 200\nlr = 3\noptimizer = 'lion'\n[data]\nfiles = ['a', 'b']\n", d);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(d.steps, 200);
  EXPECT_DOUBLE_EQ(d.lr, 3.0);  // integers are accepted for floats
  EXPECT_EQ(d.optimizer, "lion");
  EXPECT_FALSE(d.bf16);
  EXPECT_EQ(d.betas.size(), 2u);
  EXPECT_EQ(d.files, (std::vector<std::string>{"a", "b"}));
}

TEST(TomlReader, ReportsEveryProblemWithItsKeyPath) {
  Demo d;
  Status s = read_demo("[train]\nsteps = 'many'\nlrr = 0.1\noptimizer = 'sgd'\n[data]\n[extra]\nx = 1\n", d);
  ASSERT_FALSE(s.ok());
  const std::string& m = s.message();
  EXPECT_NE(m.find("'train.steps' (line 2) must be an integer, got string"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key 'train.lrr' (line 3)"), std::string::npos) << m;
  EXPECT_NE(m.find("'train.optimizer' = \"sgd\" is not one of: adamw, lion"), std::string::npos) << m;
  EXPECT_NE(m.find("missing required key 'data.files'"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key 'extra'"), std::string::npos) << m;
}

TEST(TomlReader, CountsAreNonNegative) {
  auto doc = TomlDocument::parse("n = 7\nseed = -3\n", "c.toml");
  ASSERT_TRUE(doc.ok());
  uint64_t n = 1, seed = 5;
  (*doc)->root().get_count("n", n).get_count("seed", seed);
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(seed, 5u);  // a bad value leaves the default
  Status s = (*doc)->finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'seed' = -3 must be >= 0"), std::string::npos) << s.message();
}

TEST(TomlReader, SyntaxErrorNamesLine) {
  Demo d;
  Status s = read_demo("[train]\nsteps = = 3\n", d);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("run.toml:2:"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace anvil
