// Generative tasks: GSM8K extraction and normalisation (method-specs §9.3), pass@k against a brute-force
// count, the GSM8K prompt layout, the task runners with scripted completers, and the two engines
// (recomputation and infer::Generator) producing the same greedy completions.
#include <algorithm>
#include <filesystem>
#include <map>

#include "anvil/eval/completer.h"
#include "anvil/eval/gen.h"
#include "eval_test_util.h"

namespace anvil::eval {
namespace {

using testing::byte_tokenizer;
using testing::gpt2_config;
using testing::llama_config;
using testing::tiny_model;

const std::string kExamples = std::string(ANVIL_SOURCE_DIR) + "/examples/eval";

TEST(Gsm8kExtract, StrictFlexibleBoxed) {
  EXPECT_EQ(extract_strict("so 3 + 4 = 7\n#### 7"), "7");
  EXPECT_EQ(extract_strict("#### -1,200.5 and #### 9"), "-1,200.5");
  EXPECT_EQ(extract_strict("The answer is 7."), "[invalid]");
  EXPECT_EQ(extract_flexible("I had 12 apples, gave 5, so $7."), "$7.");
  EXPECT_EQ(extract_flexible("x = 3 then 4"), "4");
  EXPECT_EQ(extract_flexible("no numbers"), "[invalid]");
  EXPECT_EQ(extract_boxed("thus \\boxed{\\frac{1}{2}} or \\boxed{42}"), "42");
  EXPECT_EQ(extract_boxed("\\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  EXPECT_EQ(extract_boxed("\\boxed{open"), "[invalid]");
}

TEST(Gsm8kExtract, NormalisationAsLmEval) {
  EXPECT_EQ(normalize_answer("Step\n#### 1,200"), "1200");
  EXPECT_EQ(normalize_answer("$7."), "7");
  EXPECT_EQ(normalize_answer("A #### b #### 12.5"), "12.5");
  EXPECT_EQ(normalize_answer("ABC"), "abc");
  EXPECT_EQ(normalize_answer("3.\n"), "3\n");
}

double binom(int64_t n, int64_t k) {
  double r = 1;
  for (int64_t i = 1; i <= k; ++i) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r;
}

TEST(PassAtK, MatchesTheCombinatorialDefinition) {
  for (int64_t n : {1, 5, 10}) {
    for (int64_t c = 0; c <= n; ++c) {
      for (int64_t k = 1; k <= n; ++k) {
        const double expect = n - c < k ? 1.0 : 1.0 - binom(n - c, k) / binom(n, k);
        EXPECT_NEAR(pass_at_k(n, c, k), expect, 1e-12) << n << " " << c << " " << k;
      }
    }
  }
}

TEST(Gsm8k, PromptLayoutAndScriptedScoring) {
  const std::string test_file = kExamples + "/gsm8k/test.jsonl";
  auto items = load_gsm8k(test_file);
  ASSERT_TRUE(items.ok()) << items.status().to_string();
  ASSERT_EQ(items->size(), 6u);
  EXPECT_EQ((*items)[2].gold, "12.5");
  EXPECT_EQ((*items)[4].gold, "300");
  const std::string p = gsm8k_prompt(*items, (*items)[0], 2, 0);
  const std::string tail = "\n\nQuestion: " + (*items)[0].question + "\nAnswer:";
  ASSERT_GT(p.size(), tail.size());
  EXPECT_EQ(p.substr(p.size() - tail.size()), tail);
  EXPECT_EQ(p.rfind("Question: ", 0), 0u);
  EXPECT_EQ(std::count(p.begin(), p.end(), '#'), 8);  // two shots, each with "#### N"
  EXPECT_EQ(p.find("Question: " + (*items)[0].question + "\nAnswer: "), std::string::npos);  // never its own shot
  EXPECT_EQ(gsm8k_prompt(*items, (*items)[0], 0), "Question: " + (*items)[0].question + "\nAnswer:");
  // A completer that answers item i correctly iff i is even; odd items get the right number without "####".
  auto train = load_gsm8k(kExamples + "/gsm8k/train.jsonl");
  ASSERT_TRUE(train.ok()) << train.status().to_string();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < items->size(); ++i) index[gsm8k_prompt(*train, (*items)[i], 1)] = i;
  CompleteFn scripted = [&](const std::string& prompt, const GenParams& gp) -> Result<Completion> {
    EXPECT_EQ(gp.stop, (std::vector<std::string>{"Question:", "</s>", "<|im_end|>"}));
    const size_t i = index.at(prompt);  // throws (test fails) unless the shot came from train.jsonl
    const std::string& gold = (*items)[i].gold;
    return Completion{.text = i % 2 == 0 ? " It is " + gold + ".\n#### " + gold : " so " + gold + "."};
  };
  auto r = run_gsm8k(scripted, test_file, {.shots = 1});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->shots_from, kExamples + "/gsm8k/train.jsonl");
  EXPECT_EQ(r->n, 6);
  EXPECT_DOUBLE_EQ(r->exact_match, 0.5);
  EXPECT_DOUBLE_EQ(r->exact_match_flexible, 1.0);
  ASSERT_EQ(r->pass_at.size(), 1u);
  EXPECT_DOUBLE_EQ(r->pass_at[0].second, 0.5);
}

TEST(Gsm8k, ShotPoolChoice) {
  // An explicit pool wins; a file without train.jsonl beside it takes shots from its other items.
  const std::string test_file = kExamples + "/gsm8k/test.jsonl";
  auto items = load_gsm8k(test_file);
  ASSERT_TRUE(items.ok());
  std::vector<std::string> prompts;
  CompleteFn record = [&](const std::string& prompt, const GenParams&) -> Result<Completion> {
    prompts.push_back(prompt);
    return Completion{.text = "#### 0"};
  };
  auto own = run_gsm8k(record, test_file, {.shots = 2, .shot_pool = test_file, .limit = 2});
  ASSERT_TRUE(own.ok()) << own.status().to_string();
  EXPECT_EQ(own->shots_from, test_file);
  ASSERT_EQ(prompts.size(), 2u);
  EXPECT_EQ(prompts[1], gsm8k_prompt(*items, (*items)[1], 2, SIZE_MAX));

  const auto dir = std::filesystem::temp_directory_path() / "anvil_gsm8k_pool";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(test_file, dir / "questions.jsonl", std::filesystem::copy_options::overwrite_existing);
  prompts.clear();
  auto alone = run_gsm8k(record, (dir / "questions.jsonl").string(), {.shots = 2, .limit = 1});
  ASSERT_TRUE(alone.ok()) << alone.status().to_string();
  EXPECT_EQ(alone->shots_from, (dir / "questions.jsonl").string() + " (other items)");
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_EQ(prompts[0], gsm8k_prompt(*items, (*items)[0], 2, 0));
  std::filesystem::remove_all(dir);

  auto missing = run_gsm8k(record, test_file, {.shots = 1, .shot_pool = kExamples + "/gsm8k/nope.jsonl"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.jsonl"), std::string::npos) << missing.status().to_string();
}

TEST(Synth, VerifierScoresReferenceCompletionsAsCorrect) {
  const SynthTaskOptions task{.kind = data::TaskKind::kArithmetic, .difficulty = 2, .n = 8};
  auto tasks = data::generate({.kind = task.kind, .difficulty = 2, .seed = task.seed, .split = data::Split::kEval,
                               .style = task.style, .unique = true}, 8);
  ASSERT_TRUE(tasks.ok());
  std::map<std::string, std::string> reference;
  for (const auto& t : *tasks) reference[t.prompt] = t.completion;
  int calls = 0;
  CompleteFn oracle = [&](const std::string& prompt, const GenParams&) -> Result<Completion> {
    ++calls;
    // Every third sample is wrong: with 3 samples per problem, c = 2 of n = 3.
    return Completion{.text = calls % 3 == 0 ? "<think>\nguess\n</think>\nAnswer: -99999\n" : reference.at(prompt)};
  };
  GenOptions opt{.n_samples = 3, .pass_k = {1, 2, 3}};
  opt.params.temperature = 0.7;
  auto r = run_synth(oracle, task, opt);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n, 8);
  EXPECT_DOUBLE_EQ(r->exact_match_flexible, 1.0);  // format
  ASSERT_EQ(r->pass_at.size(), 3u);
  EXPECT_NEAR(r->pass_at[0].second, 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(r->pass_at[1].second, 1.0);
  EXPECT_FALSE(run_synth(oracle, task, {.n_samples = 3}).ok());  // greedy with 3 samples is refused
}

TEST(Engines, RecomputeAndGeneratorGiveTheSameGreedyCompletion) {
  for (const std::string& config : {gpt2_config(257, 96), llama_config(257, 96)}) {
    const tok::Tokenizer tk = byte_tokenizer();
    model::Transformer m = tiny_model(config, 21);
    auto lm = LmScorer::create(m, tk, {.pad_multiple = 16});
    ASSERT_TRUE(lm.ok());
    const CompleteFn slow = recompute_completer(*lm);
    model::Transformer m2 = tiny_model(config, 21);
    auto gen = infer::Generator::create(std::move(m2), byte_tokenizer(), {.kv_dtype = DType::kF32});  // as eval
    ASSERT_TRUE(gen.ok()) << gen.status().to_string();
    const CompleteFn fast = generator_completer(*gen);
    const GenParams p{.max_new_tokens = 24, .temperature = 0.0, .seed = 0, .stop = {}};
    auto a = slow("Question: What is 2 + 3?\nAnswer:", p);
    auto b = fast("Question: What is 2 + 3?\nAnswer:", p);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->text, b->text);
    EXPECT_EQ(a->n_tokens, b->n_tokens);
    // Stop strings cut the completion before the stop text (use a piece of the greedy output itself).
    if (a->text.size() >= 6) {
      const std::string stop = a->text.substr(3, 2);
      auto c = slow("Question: What is 2 + 3?\nAnswer:", {.max_new_tokens = 24, .stop = {stop}});
      ASSERT_TRUE(c.ok());
      EXPECT_EQ(c->text, a->text.substr(0, a->text.find(stop)));
    }
  }
}

TEST(Engines, SchedulerBatchEqualsGeneratorOneAtATime) {
  // Ten prompts of different lengths, greedy and seeded-sampled, through continuous batching of 4
  // sequences (a queue of 4, so submission also waits for free places) vs the Generator alone.
  const std::string config = llama_config(257, 96);
  // The fp32 KV cache, as `anvil eval` uses (the default f16 one can make batching flip a near-tie).
  auto gen = infer::Generator::create(tiny_model(config, 5), byte_tokenizer(), {.kv_dtype = DType::kF32});
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  auto sched = infer::Scheduler::create(tiny_model(config, 5), byte_tokenizer(),
                                        {.max_running = 4, .max_queue = 4, .kv_dtype = DType::kF32});
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  const CompleteFn one = generator_completer(*gen);
  const CompleteBatchFn many = scheduler_completer(**sched);
  std::vector<CompletionRequest> requests;
  for (int i = 0; i < 10; ++i) {
    requests.push_back({.prompt = "Question: " + std::string(static_cast<size_t>(1 + 7 * i), 'a' + i) + "?\nAnswer:",
                        .params = {.max_new_tokens = 12 + i, .temperature = i % 2 ? 0.8 : 0.0,
                                   .seed = static_cast<uint64_t>(i), .stop = {}}});
  }
  auto batch = many(requests);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ASSERT_EQ(batch->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto alone = one(requests[i].prompt, requests[i].params);
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ((*batch)[i].text, alone->text) << "request " << i;
    EXPECT_EQ((*batch)[i].n_tokens, alone->n_tokens) << "request " << i;
    EXPECT_EQ((*batch)[i].n_prompt_tokens, alone->n_prompt_tokens) << "request " << i;
  }
  // A prompt longer than the context (96) keeps its last 96 - 4 tokens in both engines, as lm-eval does.
  std::vector<CompletionRequest> long_prompt = {
      {.prompt = std::string(150, 'x') + "tail", .params = {.max_new_tokens = 4, .temperature = 0.0}}};
  auto cut = many(long_prompt);
  ASSERT_TRUE(cut.ok()) << cut.status().to_string();
  EXPECT_EQ((*cut)[0].n_prompt_tokens, 92);
  auto cut_alone = one(long_prompt[0].prompt, long_prompt[0].params);
  ASSERT_TRUE(cut_alone.ok()) << cut_alone.status().to_string();
  EXPECT_EQ((*cut)[0].text, cut_alone->text);
  auto short_prompt = one(std::string(88, 'x') + "tail", long_prompt[0].params);  // the same last 92 bytes
  ASSERT_TRUE(short_prompt.ok());
  EXPECT_EQ(short_prompt->text, cut_alone->text);
}

}  // namespace
}  // namespace anvil::eval
