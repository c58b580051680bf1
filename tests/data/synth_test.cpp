// Synthetic tasks and their verifier: determinism, the train/eval split, arithmetic re-checked by an
// independent parser, logic puzzles re-solved from the question text, and rewards on good and broken
// completions.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "anvil/data/synth.h"
#include "anvil/data/verify.h"

namespace anvil::data {
namespace {

constexpr TaskKind kKinds[] = {TaskKind::kArithmetic, TaskKind::kWord, TaskKind::kLogic};

std::vector<Task> gen(SynthOptions opt, size_t n) {
  auto r = generate(opt, n);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : std::vector<Task>{};
}

TEST(Synth, SameSeedSameTasksOtherSeedOtherTasks) {
  for (TaskKind k : {TaskKind::kArithmetic, TaskKind::kWord, TaskKind::kLogic, TaskKind::kMix}) {
    const auto a = gen({.kind = k, .difficulty = 3, .seed = 5}, 50);
    const auto b = gen({.kind = k, .difficulty = 3, .seed = 5}, 50);
    const auto c = gen({.kind = k, .difficulty = 3, .seed = 6}, 50);
    size_t n_same_as_c = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].text(), b[i].text());
      n_same_as_c += a[i].text() == c[i].text();
    }
    EXPECT_LT(n_same_as_c, a.size() / 2) << task_kind_name(k);
  }
}

TEST(Synth, EvalQuestionsNeverAppearInTrain) {
  for (TaskKind k : kKinds) {
    for (int d : {1, 2, 4}) {
      const auto train = gen({.kind = k, .difficulty = d, .seed = 1, .split = Split::kTrain}, 3000);
      const auto eval = gen({.kind = k, .difficulty = d, .seed = 2, .split = Split::kEval}, 200);
      std::set<std::string> train_q;
      for (const auto& t : train) {
        train_q.insert(t.question);
        EXPECT_FALSE(is_eval_question(t.question));
      }
      for (const auto& t : eval) {
        EXPECT_TRUE(is_eval_question(t.question));
        EXPECT_EQ(train_q.count(t.question), 0u) << t.question;
      }
    }
  }
}

TEST(Synth, ReferenceCompletionsEarnFullReward) {
  for (TaskKind k : {TaskKind::kArithmetic, TaskKind::kWord, TaskKind::kLogic, TaskKind::kMix}) {
    for (int d = kMinDifficulty; d <= kMaxDifficulty; ++d) {
      for (Style s : {Style::kCot, Style::kDirect}) {
        for (const auto& t : gen({.kind = k, .difficulty = d, .seed = 11, .style = s}, 40)) {
          const Reward r = verify(t, t.completion);
          EXPECT_EQ(r.accuracy, 1.0) << t.text();
          EXPECT_EQ(r.format, 1.0) << t.text();
          EXPECT_NE(t.kind, TaskKind::kMix);
        }
      }
    }
  }
}

// Evaluates "What is a + b - c?" left to right, independently of the generator.
long eval_question(const std::string& q) {
  std::istringstream in(q.substr(std::string("What is ").size()));
  long v = 0, x = 0;
  char op = 0;
  in >> v;
  while (in >> op && op != '?' && in >> x) v = op == '+' ? v + x : v - x;
  return v;
}

TEST(Synth, ArithmeticStepsAndAnswersAreCorrect) {
  const std::regex step_re(R"((\d+) ([+-]) (\d+)(?::.*so \d+ [+-] \d+)? = (\d+))");
  const std::regex column_re(R"((\d+)([+-])(\d+)((?:[+-]1)?)=(\d+))");
  size_t n_columns_checked = 0;
  for (int d = kMinDifficulty; d <= kMaxDifficulty; ++d) {
    for (const auto& t : gen({.kind = TaskKind::kArithmetic, .difficulty = d, .seed = 3}, 100)) {
      const long want = eval_question(t.question);
      ASSERT_GE(want, 0) << t.question;
      EXPECT_EQ(t.answer, std::to_string(want));
      std::istringstream lines(t.completion);
      std::string line;
      int n_steps = 0;
      while (std::getline(lines, line)) {
        std::smatch m;
        if (!std::regex_match(line, m, step_re)) continue;
        ++n_steps;
        const long a = std::stol(m[1]), b = std::stol(m[3]), r = std::stol(m[4]);
        EXPECT_EQ(m[2] == "+" ? a + b : a - b, r) << line;
        // Column steps: each "x+y(+1)=z" / "x-y(-1)=z" is itself right, and the kept digits spell r.
        std::string digits;
        for (auto it = std::sregex_iterator(line.begin(), line.end(), column_re); it != std::sregex_iterator(); ++it) {
          const auto& c = *it;
          const long x = std::stol(c[1]), y = std::stol(c[3]), z = std::stol(c[5]);
          const long adj = c[4].length() == 0 ? 0 : (c[4].str()[0] == '+' ? 1 : -1);
          EXPECT_EQ(c[2] == "+" ? x + y + adj : x - y + adj, z) << line;
          digits.insert(digits.begin(), static_cast<char>('0' + z % 10));
          if (c[2] == "+" && z >= 10 && std::next(it) == std::sregex_iterator()) digits.insert(digits.begin(), '1');
        }
        if (!digits.empty()) {
          ++n_columns_checked;
          EXPECT_EQ(std::stol(digits), r) << line;
        }
      }
      EXPECT_EQ(n_steps, (d + 1) / 2) << t.completion;
    }
  }
  EXPECT_GT(n_columns_checked, 1000u);  // the column checks above really ran
}

TEST(Synth, WordProblemEquationsHold) {
  const std::regex eq_re(R"((\d+) ([-+*/]) (\d+) = (\d+))");
  for (int d = kMinDifficulty; d <= kMaxDifficulty; ++d) {
    for (const auto& t : gen({.kind = TaskKind::kWord, .difficulty = d, .seed = 4}, 100)) {
      long last = -1;
      for (auto it = std::sregex_iterator(t.completion.begin(), t.completion.end(), eq_re);
           it != std::sregex_iterator(); ++it) {
        const auto& m = *it;
        const long a = std::stol(m[1]), b = std::stol(m[3]), r = std::stol(m[4]);
        const char op = m[2].str()[0];
        const long want = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : a / b;
        if (op == '/') {
          EXPECT_EQ(a % b, 0) << t.completion;
        }
        EXPECT_EQ(want, r) << t.completion;
        EXPECT_GE(r, 0);
        last = r;
      }
      EXPECT_EQ(std::to_string(last), t.answer) << t.text();
    }
  }
}

// Re-solves an ordering puzzle from its question text alone.
std::string solve_logic(const std::string& q) {
  static const std::regex fact_re(R"((\w+) is (\w+) than (\w+)\.)");
  static const std::regex ask_re(R"(Who is the (\w+)\?)");
  static const std::map<std::string, std::string> kLessToMore = {
      {"shorter", "taller"}, {"younger", "older"}, {"slower", "faster"}};
  static const std::set<std::string> kMost = {"tallest", "oldest", "fastest"};
  std::map<std::string, int> n_above, n_below;
  for (auto it = std::sregex_iterator(q.begin(), q.end(), fact_re); it != std::sregex_iterator(); ++it) {
    std::string hi = (*it)[1], lo = (*it)[3];
    if (kLessToMore.count((*it)[2])) std::swap(hi, lo);
    ++n_below[hi], ++n_above[lo];
    n_above[hi] += 0, n_below[lo] += 0;
  }
  std::smatch m;
  if (!std::regex_search(q, m, ask_re)) return "";
  const bool most = kMost.count(m[1]) > 0;
  for (const auto& [name, n] : (most ? n_above : n_below)) {
    if (n == 0) return name;
  }
  return "";
}

TEST(Synth, LogicAnswersFollowFromTheFacts) {
  for (int d = kMinDifficulty; d <= kMaxDifficulty; ++d) {
    for (const auto& t : gen({.kind = TaskKind::kLogic, .difficulty = d, .seed = 9}, 100)) {
      EXPECT_EQ(solve_logic(t.question), t.answer) << t.question;
    }
  }
}

TEST(Synth, TextFormat) {
  const std::regex cot_re(R"(Question: [^\n]+\n<think>\n(?:[^\n]+\n)+</think>\nAnswer: [^\n]+\n)");
  const std::regex direct_re(R"(Question: [^\n]+\nAnswer: [^\n]+\n)");
  for (const auto& t : gen({.kind = TaskKind::kMix, .difficulty = 3, .seed = 2}, 60)) {
    EXPECT_TRUE(std::regex_match(t.text(), cot_re)) << t.text();
  }
  for (const auto& t : gen({.kind = TaskKind::kMix, .difficulty = 3, .seed = 2, .style = Style::kDirect}, 60)) {
    EXPECT_TRUE(std::regex_match(t.text(), direct_re)) << t.text();
    EXPECT_TRUE(t.prompt.ends_with("\nAnswer:"));
  }
  const auto j = task_to_json(gen({.kind = TaskKind::kWord, .seed = 1}, 1)[0], "w-0", Split::kTrain);
  EXPECT_EQ(j["source"], "synthetic");
  EXPECT_EQ(j["meta"]["task"], "word");
  EXPECT_TRUE(j["text"].get<std::string>().starts_with(j["prompt"].get<std::string>()));
  EXPECT_TRUE(j["text"].get<std::string>().ends_with("Answer: " + j["answer"].get<std::string>() + "\n"));
}

TEST(Synth, BadOptionsAreErrors) {
  EXPECT_FALSE(make_task({.difficulty = 0}, 0).ok());
  EXPECT_FALSE(make_task({.difficulty = kMaxDifficulty + 1}, 0).ok());
  // Difficulty-1 arithmetic has only a few hundred questions: 5000 distinct ones cannot exist.
  const auto r = generate({.kind = TaskKind::kArithmetic, .difficulty = 1, .unique = true}, 5000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("distinct"), std::string::npos);
  EXPECT_FALSE(parse_task_kind("algebra").ok());
  EXPECT_EQ(*parse_task_kind("logic"), TaskKind::kLogic);
}

TEST(Verify, AccuracyAndFormat) {
  const std::string good = "<think>\n37 + 48 = 85\n85 - 19 = 66\n</think>\nAnswer: 66\n";
  EXPECT_EQ(verify("66", Style::kCot, good).accuracy, 1.0);
  EXPECT_EQ(verify("66", Style::kCot, good).format, 1.0);
  EXPECT_EQ(verify("67", Style::kCot, good).accuracy, 0.0);
  // Tolerated: surrounding whitespace, a trailing period, case, text after the answer line.
  EXPECT_EQ(verify("66", Style::kCot, "  <think>x</think>  Answer:  66.\nQuestion: next").accuracy, 1.0);
  EXPECT_EQ(verify("Ann", Style::kCot, "<think>a</think>\nAnswer: ann").accuracy, 1.0);
  // The answer counts only after </think>; one inside the reasoning does not.
  EXPECT_EQ(verify("5", Style::kCot, "<think>Answer: 5</think>\nAnswer: 6").accuracy, 0.0);
  // Broken formats still earn accuracy when the answer is there, but no format reward.
  const char* broken[] = {
      "37 + 48 = 85\nAnswer: 66",                           // no think block
      "<think>\n85\nAnswer: 66",                            // never closed
      "<think>\n</think>\nAnswer: 66",                      // empty reasoning
      "<think>a</think><think>b</think>\nAnswer: 66",       // two blocks
      "<think>a</think>\nSo it is 66.\nAnswer: 66",         // text between block and answer
      "x <think>a</think>\nAnswer: 66",                     // text before the block
  };
  for (const char* c : broken) EXPECT_EQ(verify("66", Style::kCot, c).format, 0.0) << c;
  EXPECT_EQ(verify("66", Style::kCot, broken[0]).accuracy, 1.0);
  EXPECT_EQ(verify("66", Style::kCot, "<think>a</think>\nAnswer:\n").format, 0.0);  // empty answer
  EXPECT_EQ(verify("66", Style::kCot, "").accuracy, 0.0);
}

TEST(Verify, DirectStyle) {
  EXPECT_EQ(verify("66", Style::kDirect, " 66\n").accuracy, 1.0);
  EXPECT_EQ(verify("66", Style::kDirect, " 66\n").format, 1.0);
  EXPECT_EQ(verify("66", Style::kDirect, " 65\n66").accuracy, 0.0);  // only the first line counts
  EXPECT_EQ(verify("66", Style::kDirect, "Answer: 66").accuracy, 1.0);
  EXPECT_EQ(verify("66", Style::kDirect, "<think>x</think>\nAnswer: 66").format, 0.0);
  EXPECT_EQ(verify("66", Style::kDirect, "\n").format, 0.0);
}

}  // namespace
}  // namespace anvil::data
