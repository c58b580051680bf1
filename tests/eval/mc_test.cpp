// Multiple choice: CSV parsing, the MMLU / C-Eval / JSONL loaders on the shipped sample files
// (examples/eval), the exact lm-eval prompt strings (method-specs §9.1/§9.2), _encode_pair, and scores
// that equal log-likelihoods computed independently token by token.
#include <cmath>

#include "anvil/base/file.h"
#include "anvil/eval/mc.h"
#include "eval_test_util.h"

namespace anvil::eval {
namespace {

using testing::byte_tokenizer;
using testing::gpt2_config;
using testing::tiny_model;

constexpr double kLlTolerance = 1e-4;  // absolute, on log-likelihoods of a few tokens (fp32 logits)
const std::string kExamples = std::string(ANVIL_SOURCE_DIR) + "/examples/eval";

TEST(Csv, QuotesEscapesNewlinesAndCrLf) {
  auto rows = parse_csv("\xEF\xBB\xBF" "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",,x\nlast,row", "t.csv");
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0], (std::vector<std::string>{"a", "b,c", "say \"hi\""}));
  EXPECT_EQ((*rows)[1], (std::vector<std::string>{"multi\nline", "", "x"}));
  EXPECT_EQ((*rows)[2], (std::vector<std::string>{"last", "row"}));
  auto bad = parse_csv("a,\"open\nb,c\n", "bad.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.csv' line 1"), std::string::npos) << bad.status().message();
}

TEST(McData, MmluSampleLayout) {
  auto ds = load_mmlu(kExamples + "/mmlu");
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  ASSERT_EQ(ds->subjects.size(), 2u);
  const McSubject& astro = ds->subjects[0];
  EXPECT_EQ(astro.name, "astronomy");
  EXPECT_EQ(ds->subjects[1].display, "elementary mathematics");
  EXPECT_EQ(astro.dev.size(), 5u);
  ASSERT_EQ(astro.eval.size(), 6u);
  EXPECT_EQ(astro.eval[2].question, "What is a \"light-year\" a unit of?");
  EXPECT_EQ(astro.eval[5].question, "A star's colour mostly tells us its\nsurface temperature. Which stars are hottest?");
  EXPECT_EQ(astro.eval[5].gold, 3);
  EXPECT_EQ(astro.eval[0].choices[2], "Jupiter");
}

TEST(McData, CevalSampleLayoutAndTestSplitWithoutAnswers) {
  auto ds = load_ceval(kExamples + "/ceval");
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  ASSERT_EQ(ds->subjects.size(), 2u);
  EXPECT_EQ(ds->subjects[0].display, "计算机网络");
  EXPECT_EQ(ds->subjects[1].display, "高中物理");
  EXPECT_EQ(ds->subjects[0].eval.size(), 5u);
  EXPECT_EQ(ds->subjects[0].eval[4].gold, 3);
  auto test = load_ceval(kExamples + "/ceval", "test");
  ASSERT_TRUE(test.ok()) << test.status().to_string();
  EXPECT_EQ(test->subjects[0].eval[0].gold, -1);
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 512), 1);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  auto r = run_mc(*lm, *test, {.shots = 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("has no answer"), std::string::npos);
}

TEST(McData, JsonlAndItsErrors) {
  auto ds = load_mc_jsonl(kExamples + "/mc.jsonl");
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  ASSERT_EQ(ds->subjects.size(), 2u);
  EXPECT_EQ(ds->subjects[0].name, "animals");
  EXPECT_EQ(ds->subjects[1].dev.size(), 2u);
  EXPECT_EQ(ds->subjects[1].eval.size(), 3u);
  EXPECT_EQ(ds->subjects[1].dev[1].gold, 0);
  testing::TempDir dir("mcjsonl");
  ASSERT_TRUE(write_file_atomic(dir.str("x.jsonl"), "{\"question\":\"q\",\"choices\":[\"a\",\"b\"],\"answer\":\"C\"}\n").ok());
  auto bad = load_mc_jsonl(dir.str("x.jsonl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 1: answer 'C'"), std::string::npos) << bad.status().message();
}

TEST(McPrompt, MmluAndCevalTemplatesExactly) {
  McSubject s{.name = "astronomy", .display = "astronomy",
              .dev = {{.id = "d", .question = " Q1? ", .choices = {"a", "b", "c", "d"}, .gold = 1}},
              .eval = {{.id = "e", .question = "Q2?\n", .choices = {"w", "x", "y", "z"}, .gold = 3}}};
  EXPECT_EQ(mc_context(McFormat::kMmlu, s, 0, 5),
            "The following are multiple choice questions (with answers) about astronomy.\n\n"
            "Q1?\nA. a\nB. b\nC. c\nD. d\nAnswer: B\n\n"
            "Q2?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  EXPECT_EQ(mc_context(McFormat::kMmlu, s, 0, 0),
            "The following are multiple choice questions (with answers) about astronomy.\n\nQ2?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  s.display = "天文学";
  EXPECT_EQ(mc_context(McFormat::kCeval, s, 0, 1),
            "以下是中国关于天文学的单项选择题，请选出其中的正确答案。\n\n"
            "Q1?\nA. a\nB. b\nC. c\nD. d\n答案： B\n\n"
            "Q2?\nA. w\nB. x\nC. y\nD. z\n答案：");
}

TEST(McScoring, EncodePairMovesTrailingSpaces) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 64), 1);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  const LlRequest r = lm->encode_pair("Answer:  ", "B");
  EXPECT_EQ(r.context, lm->encode("Answer:"));
  EXPECT_EQ(r.continuation, lm->encode("  B"));
}

// Σ log p(cont_j | ctx + cont_<j), one forward per token (no batching, no row sharing).
double manual_ll(LmScorer& lm, const LlRequest& q) {
  double ll = 0;
  std::vector<int32_t> seq = q.context;
  for (int32_t t : q.continuation) {
    std::vector<std::vector<float>> lp;
    EXPECT_TRUE(lm.next_logprobs(std::vector<std::vector<int32_t>>{seq}, lp).ok());
    ll += lp[0][static_cast<size_t>(t)];
    seq.push_back(t);
  }
  return ll;
}

TEST(McScoring, ScoresEqualTokenByTokenLogLikelihoodsAndAggregatesAreConsistent) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 1024), 11);
  auto lm = LmScorer::create(m, tk, {.max_batch = 4});
  ASSERT_TRUE(lm.ok());
  auto ds = load_mmlu(kExamples + "/mmlu");
  ASSERT_TRUE(ds.ok());
  auto r = run_mc(*lm, *ds, {.shots = 1, .limit = 2});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 4u);
  EXPECT_EQ(r->n_requests, 4 * 8);
  int64_t correct = 0;
  double macro = 0;
  for (size_t i = 0; i < r->items.size(); ++i) {
    const McItemResult& it = r->items[i];
    const McSubject& s = ds->subjects[i / 2];
    EXPECT_EQ(it.prompt, mc_context(McFormat::kMmlu, s, i % 2, 1));
    EXPECT_EQ(it.n_shots, 1);
    for (int c = 0; c < 4; ++c) {
      const std::string letter(1, static_cast<char>('A' + c));
      EXPECT_NEAR(it.ll_letter[c], manual_ll(*lm, lm->encode_pair(it.prompt, " " + letter)), kLlTolerance);
      if (i == 0) {  // full-text continuations are long: one item keeps the test fast
        EXPECT_NEAR(it.ll_text[c], manual_ll(*lm, lm->encode_pair(it.prompt, " " + s.eval[i % 2].choices[c])), kLlTolerance);
      }
    }
    EXPECT_EQ(it.chosen, std::max_element(it.ll_letter.begin(), it.ll_letter.end()) - it.ll_letter.begin());
    correct += it.chosen == it.gold;
    EXPECT_EQ(it.margin < 0, it.chosen != it.gold);
  }
  EXPECT_NEAR(r->micro.acc, correct / 4.0, 1e-12);
  for (const auto& s : r->subjects) macro += s.score.acc / 2;
  EXPECT_NEAR(r->macro.acc, macro, 1e-12);
}

TEST(McScoring, LeftTruncationKeepsTheContinuationAndFlagsIt) {
  const tok::Tokenizer tk = byte_tokenizer();
  model::Transformer m = tiny_model(gpt2_config(257, 64), 2);
  auto lm = LmScorer::create(m, tk, {});
  ASSERT_TRUE(lm.ok());
  auto ds = load_mmlu(kExamples + "/mmlu");
  ASSERT_TRUE(ds.ok());
  auto r = run_mc(*lm, *ds, {.shots = 2, .limit = 1, .scoring = McScoring::kLetters});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const McItemResult& it = r->items[0];
  EXPECT_TRUE(it.truncated);
  EXPECT_TRUE(std::isnan(r->micro.acc_norm));
  // The score equals the log-likelihood given only the last 64 input tokens.
  LlRequest q = lm->encode_pair(it.prompt, " A");
  const int64_t keep = 64 - (static_cast<int64_t>(q.continuation.size()) - 1);  // context tokens that fit
  ASSERT_GT(static_cast<int64_t>(q.context.size()), keep);
  q.context.erase(q.context.begin(), q.context.end() - keep);
  EXPECT_NEAR(it.ll_letter[0], manual_ll(*lm, q), kLlTolerance);
}

}  // namespace
}  // namespace anvil::eval
