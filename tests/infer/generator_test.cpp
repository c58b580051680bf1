// Generator end to end on a tiny random GPT-2 with a byte-level tokenizer: greedy generation equals a
// greedy loop over Transformer::logits() on the growing sequence; streamed pieces concatenate to the
// result; stop strings truncate (not emitted, finish "stop"); stop tokens and max_tokens end it; seeded
// sampling is reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "anvil/infer/generator.h"
#include "tiny_models.h"

namespace anvil::infer {
namespace {

using test_models::byte_tokenizer;
using test_models::tiny_model;
constexpr int64_t kVocab = test_models::kTinyVocab;

Generator make_generator() {
  auto g = Generator::create(tiny_model(), byte_tokenizer(), {.max_batch_tokens = 16});
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return std::move(*g);
}

TEST(Generator, GreedyMatchesFullForwardLoop) {
  Generator g = make_generator();
  const std::string prompt = "The cat";
  const int64_t n_new = 20;
  std::string streamed;
  int n_events = 0;
  auto r = g.generate(prompt, {.temperature = 0.0f, .max_tokens = n_new, .ignore_eos = true},
                      [&](const TokenEvent& e) { streamed += e.text, ++n_events; });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->finish, FinishReason::kLength);
  EXPECT_EQ(r->n_tokens, n_new);
  EXPECT_EQ(r->n_prompt_tokens, static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(n_events, n_new + 1);  // one per token + the final flush
  EXPECT_GT(r->ttft_ms, 0.0);

  // Reference: argmax over the first tokenizer ids of Transformer::logits on the whole sequence.
  model::Transformer m = tiny_model();
  std::vector<int32_t> ids(prompt.begin(), prompt.end());
  std::vector<float> logits;
  for (int64_t i = 0; i < n_new; ++i) {
    const auto T = static_cast<int64_t>(ids.size());
    ASSERT_TRUE(m.plan(1, T).ok());
    logits.resize(static_cast<size_t>(T * kVocab));
    m.logits(ids.data(), logits.data(), Precision::kF32);
    const float* last = logits.data() + (T - 1) * kVocab;
    ids.push_back(static_cast<int32_t>(std::max_element(last, last + 257) - last));
  }
  const std::vector<int32_t> want(ids.begin() + static_cast<ptrdiff_t>(prompt.size()), ids.end());
  EXPECT_EQ(r->tokens, want);
  // The text is the stream decoding of those tokens (complete UTF-8, U+FFFD for invalid bytes).
  tok::StreamDecoder sd(g.tokenizer());
  std::string text;
  for (int32_t id : want) text += *sd.push(static_cast<uint32_t>(id));
  text += sd.flush();
  EXPECT_EQ(r->text, text);
}

TEST(Generator, StopStringsAndStopTokens) {
  Generator g = make_generator();
  const SamplingOptions base{.temperature = 0.0f, .max_tokens = 24, .ignore_eos = true};
  auto full = g.generate("ab", base);
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->tokens.size(), 10u);
  // A stop string taken from the middle of the greedy completion's text (two ASCII bytes, or one).
  const std::string& t = full->text;
  size_t at = std::string::npos, len = 2;
  for (size_t i = 3; i + 1 < t.size() && at == std::string::npos; ++i)
    if (static_cast<unsigned char>(t[i]) < 0x80 && static_cast<unsigned char>(t[i + 1]) < 0x80) at = i;
  for (size_t i = 1; i < t.size() && at == std::string::npos; ++i)
    if (static_cast<unsigned char>(t[i]) < 0x80) at = i, len = 1;
  ASSERT_NE(at, std::string::npos) << "no ASCII in the completion: " << t;
  const std::string stop = t.substr(at, len);
  SamplingOptions o = base;
  o.stop = {stop};
  std::string streamed;
  auto r = g.generate("ab", o, [&](const TokenEvent& e) { streamed += e.text; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->text, t.substr(0, t.find(stop)));
  // A stop token: the first greedy token ends it at once, with no text.
  o = base;
  o.stop_token_ids = {full->tokens[0]};
  r = g.generate("ab", o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish, FinishReason::kStop);
  EXPECT_EQ(r->n_tokens, 0);
  EXPECT_EQ(r->text, "");
}

TEST(Generator, SeededSamplingIsReproducibleAndLogprobsAreReported) {
  Generator g = make_generator();
  const SamplingOptions o{.temperature = 1.0f, .top_k = 40, .top_p = 0.9f, .seed = 5, .max_tokens = 15,
                          .ignore_eos = true, .logprobs = true};
  auto a = g.generate("x", o), b = g.generate("x", o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  ASSERT_EQ(a->logprobs.size(), a->tokens.size());
  for (float lp : a->logprobs) EXPECT_LE(lp, 0.0f);
  for (int32_t id : a->tokens) EXPECT_LT(id, 257) << "sampled a padding row";
}

TEST(Generator, ContextLimitAndErrors) {
  Generator g = make_generator();
  auto r = g.generate(std::string(60, 'a'), {.temperature = 0.0f, .max_tokens = 100, .ignore_eos = true});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->finish, FinishReason::kLength);
  EXPECT_EQ(r->n_tokens, 64 - 60 + 1);  // positions 60..63 decoded, plus the token predicted from position 63
  EXPECT_FALSE(g.generate(std::string(64, 'a'), {}).ok());
  EXPECT_FALSE(g.generate("a", {.top_p = 0.0f}).ok());
  EXPECT_FALSE(g.generate("a", {.max_tokens = 0}).ok());
  auto bad = Generator::create(tiny_model(), byte_tokenizer(), {.max_seq = 65});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace anvil::infer
