// Scheduler on tiny random GPT-2 and LLaMA models: every request's tokens and text equal
// Generator::generate_ids for the same request, whether it runs alone or with 7 others of different
// prompt lengths (two longer than prefill_chunk, so chunked prefill interleaves with decodes), greedy and
// seeded sampling (alone: bit-identical to a Generator prefilling in chunks of the same length); a long
// prefill advancing one chunk per step next to a running decode; prompts sharing a prefix copy it from
// another sequence's cache, or take the slot a finished one left it in, and still equal the Generator; stop strings, stop ids and end-of-text;
// a full queue, cancel(), a sink returning false, drain(), invalid requests, stats(), and destruction
// with requests in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "anvil/infer/engine.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/scheduler.h"
#include "tiny_models.h"

namespace anvil::infer {
namespace {

using test_models::byte_tokenizer;
using test_models::kTinyMaxSeq;
using test_models::tiny_model;

constexpr int64_t kPrefillChunk = 8;
constexpr int64_t kMaxBatchTokens = 24;

// What one request's sink saw.
struct Seen {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string text;
  int n_final = 0;
  StreamEvent last;
  std::vector<SampledToken> prompt_logprobs;
  int n_prompt_logprob_events = 0;  // events that carried prompt scores
};

// Collects events of many requests; wait() blocks until n requests have had their final event.
class Collector {
 public:
  StreamSink sink(int key) {
    return [this, key](const StreamEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      Seen& s = seen_[key];
      if (e.token >= 0) s.tokens.push_back(e.token), s.logprobs.push_back(e.logprob);
      s.text += e.text;
      s.last = e;
      if (!e.prompt_logprobs.empty()) {
        ++s.n_prompt_logprob_events;
        s.prompt_logprobs.insert(s.prompt_logprobs.end(), e.prompt_logprobs.begin(), e.prompt_logprobs.end());
      }
      if (e.final) ++s.n_final, ++n_final_, cv_.notify_all();
      return true;
    };
  }
  void wait(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return n_final_ >= n; });
  }
  Seen get(int key) {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_[key];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Seen> seen_;
  int n_final_ = 0;
};

// A one-shot gate a sink can block on (the test holds the scheduler thread at a known point).
class Gate {
 public:
  void arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_arrived() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return arrived_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool arrived_ = false, open_ = false;
};

std::unique_ptr<Scheduler> make_scheduler(bool llama, SchedulerOptions opt = {}) {
  if (opt.prefill_chunk == SchedulerOptions{}.prefill_chunk) opt.prefill_chunk = kPrefillChunk;
  if (opt.max_batch_tokens == SchedulerOptions{}.max_batch_tokens) opt.max_batch_tokens = kMaxBatchTokens;
  auto s = Scheduler::create(tiny_model(llama), byte_tokenizer(), opt);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(*s);
}

std::vector<int32_t> ids_of(const std::string& text) { return {text.begin(), text.end()}; }

// Eight prompts of 1..40 bytes: two are longer than kPrefillChunk several times over.
std::vector<std::vector<int32_t>> eight_prompts() {
  std::vector<std::vector<int32_t>> p;
  for (const char* s : {"a", "The cat", "Once upon a time, ", "xyz", "0123456789abcdefghijklmnopqrstuvwxyz!?",
                        "hello world", "Sphinx of black quartz, judge my vow.", "Q: 2+2?"})
    p.push_back(ids_of(s));
  return p;
}

SamplingOptions request_options(bool sampled, int i) {
  SamplingOptions o{.temperature = 0.0f, .max_tokens = 12 + 2 * i, .ignore_eos = true, .logprobs = true};
  if (sampled) o.temperature = 0.9f, o.top_k = 50, o.top_p = 0.95f, o.seed = 100 + static_cast<uint64_t>(i);
  return o;
}

// llama?, sampled?, KV cache type
class SchedulerEquality : public ::testing::TestWithParam<std::tuple<bool, bool, DType>> {};

TEST_P(SchedulerEquality, AloneAndBatchedEqualGenerator) {
  const auto [llama, sampled, kv_dtype] = GetParam();
  const auto prompts = eight_prompts();
  const int n = static_cast<int>(prompts.size());
  // The engine's logits do not depend on the batch (packed_linear.h), so the Generator's own prefill chunks
  // and the default f16 KV cache (or an int8 one: a row's scale depends on that row only) give the
  // scheduler's bits, alone or batched.
  auto gen = Generator::create(tiny_model(llama), byte_tokenizer(), {.kv_dtype = kv_dtype});
  ASSERT_TRUE(gen.ok());
  std::vector<GenerationResult> want;
  for (int i = 0; i < n; ++i) {
    auto r = gen->generate_ids(prompts[static_cast<size_t>(i)], request_options(sampled, i));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    want.push_back(*r);
  }
  auto sched = make_scheduler(llama, {.max_running = 8, .kv_dtype = kv_dtype});
  // Alone: one request at a time.
  for (int i = 0; i < n; ++i) {
    Collector c;
    ASSERT_TRUE(sched->submit({.prompt_ids = prompts[static_cast<size_t>(i)], .sampling = request_options(sampled, i)},
                              c.sink(i)).ok());
    c.wait(1);
    const Seen s = c.get(i);
    EXPECT_EQ(s.tokens, want[static_cast<size_t>(i)].tokens) << "alone, request " << i;
    EXPECT_EQ(s.text, want[static_cast<size_t>(i)].text) << "alone, request " << i;
    EXPECT_EQ(s.logprobs, want[static_cast<size_t>(i)].logprobs) << "alone, request " << i;
  }
  // Batched: eight submitters at once.
  Collector c;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto id = sched->submit({.prompt_ids = prompts[static_cast<size_t>(i)], .sampling = request_options(sampled, i)},
                              c.sink(i));
      EXPECT_TRUE(id.ok()) << id.status().to_string();
    });
  for (auto& t : threads) t.join();
  c.wait(n);
  for (int i = 0; i < n; ++i) {
    const Seen s = c.get(i);
    const GenerationResult& w = want[static_cast<size_t>(i)];
    EXPECT_EQ(s.n_final, 1);
    EXPECT_TRUE(s.last.error.ok()) << s.last.error.to_string();
    EXPECT_EQ(s.tokens, w.tokens) << "batched, request " << i;
    EXPECT_EQ(s.text, w.text) << "batched, request " << i;
    EXPECT_EQ(s.logprobs, w.logprobs) << "batched, request " << i;
    EXPECT_EQ(s.last.finish, w.finish);
    EXPECT_EQ(s.last.n_tokens, w.n_tokens);
    EXPECT_EQ(s.last.n_prompt_tokens, w.n_prompt_tokens);
    EXPECT_GT(s.last.ttft_ms, 0.0);
    EXPECT_GE(s.last.ttft_ms, s.last.queue_ms);
  }
  const SchedulerStats st = sched->stats();
  EXPECT_EQ(st.n_completed, static_cast<uint64_t>(2 * n));
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.waiting, 0);
  EXPECT_EQ(st.kv_used_tokens, 0);
  EXPECT_EQ(st.kv_capacity_tokens, 8 * kTinyMaxSeq);
  EXPECT_LE(st.last_batch_tokens, kMaxBatchTokens);
}

INSTANTIATE_TEST_SUITE_P(Models, SchedulerEquality,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(DType::kF16, DType::kI8)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "Llama" : "Gpt2") +
                                  (std::get<1>(info.param) ? "Sampled" : "Greedy") +
                                  (std::get<2>(info.param) == DType::kI8 ? "Int8Cache" : "");
                         });

// Prefix sharing: requests submitted together whose prompts share at least kMinSharedPrefix leading tokens
// with an earlier one's copy them from its cache (waiting for its prefill: 4 chunks of 8 here), and every
// request's tokens and logprobs still equal a lone Generator's, with each KV cache type. What is copied:
// the same prompt again (all but its last token), a longer one (all 40), one sharing 20; one sharing 10
// (under kMinSharedPrefix) and one that scores its prompt copy nothing.
TEST(Scheduler, SharedPromptPrefixesAreCopiedNotRecomputed) {
  const std::string base = "The quick brown fox jumps over the lazy!";  // 40 bytes
  ASSERT_EQ(base.size(), 40u);
  const std::vector<std::vector<int32_t>> prompts = {
      ids_of(base), ids_of(base), ids_of(base + " Then"), ids_of(base.substr(0, 20) + " and a different end"),
      ids_of(base.substr(0, 10) + " short"), ids_of(base)};
  const uint64_t want_reused = 39 + 40 + 20;
  for (const DType kv : {DType::kF16, DType::kF32, DType::kI8})
    for (const bool llama : {false, true}) {
      SCOPED_TRACE(std::string(llama ? "llama " : "gpt2 ") + dtype_name(kv));
      auto gen = Generator::create(tiny_model(llama), byte_tokenizer(), {.kv_dtype = kv});
      ASSERT_TRUE(gen.ok());
      auto sched = make_scheduler(llama, {.max_running = 6, .kv_dtype = kv});
      Collector c;
      for (size_t i = 0; i < prompts.size(); ++i) {
        SamplingOptions o = request_options(i % 2 == 1, static_cast<int>(i));
        o.top_logprobs = 0;
        ASSERT_TRUE(sched->submit({.prompt_ids = prompts[i], .sampling = o, .prompt_logprobs = i == 5}, c.sink(static_cast<int>(i))).ok());
      }
      c.wait(static_cast<int>(prompts.size()));
      for (size_t i = 0; i < prompts.size(); ++i) {
        SamplingOptions o = request_options(i % 2 == 1, static_cast<int>(i));
        o.top_logprobs = 0;
        auto w = gen->generate_ids(prompts[i], o);
        ASSERT_TRUE(w.ok()) << w.status().to_string();
        const Seen got = c.get(static_cast<int>(i));
        EXPECT_EQ(got.tokens, w->tokens) << "request " << i;
        EXPECT_EQ(got.logprobs, w->logprobs) << "request " << i;
      }
      EXPECT_EQ(c.get(5).prompt_logprobs.size(), prompts[5].size() - 1);
      uint64_t n_prompt = 0;
      for (const auto& p : prompts) n_prompt += p.size();
      EXPECT_EQ(sched->stats().n_prefix_tokens_reused, want_reused);
      EXPECT_EQ(sched->stats().n_prefill_tokens, n_prompt - want_reused);
    }
}

// A finished sequence's cache stays in its slot: a later prompt that starts the same way (a next chat turn:
// the last prompt + its answer + more) takes that slot and prefills only the rest, an unrelated one takes
// the least recently used slot and so leaves it, and outputs still equal a lone Generator's.
TEST(Scheduler, FinishedSequencesLeaveTheirPrefixForLaterPrompts) {
  for (const bool llama : {false, true}) {
    SCOPED_TRACE(llama ? "llama" : "gpt2");
    auto gen = Generator::create(tiny_model(llama), byte_tokenizer(), {});
    ASSERT_TRUE(gen.ok());
    auto sched = make_scheduler(llama, {.max_running = 2});
    const SamplingOptions o{.temperature = 0.0f, .max_tokens = 12, .ignore_eos = true, .logprobs = true};
    auto run = [&](const std::vector<int32_t>& prompt, int key) {
      Collector c;
      EXPECT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = o}, c.sink(key)).ok());
      c.wait(1);
      auto want = gen->generate_ids(prompt, o);
      EXPECT_TRUE(want.ok());
      const Seen got = c.get(key);
      EXPECT_EQ(got.tokens, want->tokens) << "request " << key;
      EXPECT_EQ(got.logprobs, want->logprobs) << "request " << key;
      return got.tokens;
    };
    const std::vector<int32_t> base = ids_of("The quick brown fox jumps over the lazy!");  // 40
    const std::vector<int32_t> answer = run(base, 0);  // slot 0 now caches base + 11 of its 12 tokens
    std::vector<int32_t> turn2 = base;
    turn2.insert(turn2.end(), answer.begin(), answer.begin() + 8);
    for (char ch : std::string(" and then?")) turn2.push_back(ch);
    run(turn2, 1);                           // reuses 48 positions of slot 0
    run(ids_of("Completely unrelated text"), 2);  // takes slot 1, the least recently used
    run(base, 3);                            // slot 0 still starts with base: reuses 39
    const SchedulerStats st = sched->stats();
    EXPECT_EQ(st.n_prefix_tokens_reused, 48u + 39u);
    EXPECT_EQ(st.n_prefill_tokens, 40u + (turn2.size() - 48) + 25u + 1u);
  }
}

TEST(Scheduler, StopStringsStopIdsAndEndOfText) {
  auto gen = Generator::create(tiny_model(), byte_tokenizer());
  ASSERT_TRUE(gen.ok());
  auto sched = make_scheduler(false);
  auto run = [&](const std::vector<int32_t>& prompt, const SamplingOptions& o) {
    Collector c;
    EXPECT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = o}, c.sink(0)).ok());
    c.wait(1);
    return c.get(0);
  };
  const auto prompt = ids_of("ab");
  const SamplingOptions base{.temperature = 0.0f, .max_tokens = 24, .ignore_eos = true};
  auto full = gen->generate_ids(prompt, base);
  ASSERT_TRUE(full.ok());
  // A stop string from the middle of the greedy text (an ASCII character after the first few bytes).
  size_t at = std::string::npos;
  for (size_t i = 3; i < full->text.size() && at == std::string::npos; ++i)
    if (static_cast<unsigned char>(full->text[i]) < 0x80) at = i;
  ASSERT_NE(at, std::string::npos) << "no ASCII in " << full->text;
  SamplingOptions o = base;
  o.stop = {full->text.substr(at, 1)};
  const Seen s = run(prompt, o);
  EXPECT_EQ(s.last.finish, FinishReason::kStop);
  EXPECT_EQ(s.text, full->text.substr(0, full->text.find(o.stop[0])));
  // A stop id: the first greedy token ends it with no token events, only the final one.
  o = base;
  o.stop_token_ids = {full->tokens[0]};
  const Seen t = run(prompt, o);
  EXPECT_EQ(t.last.finish, FinishReason::kStop);
  EXPECT_TRUE(t.tokens.empty());
  EXPECT_EQ(t.n_final, 1);
  // End-of-text: find a seed whose hot sampling hits <|endoftext|> before max_tokens (Generator), then
  // the scheduler must stop at the same token.
  o = SamplingOptions{.temperature = 3.0f, .max_tokens = 60};
  bool found = false;
  for (uint64_t seed = 0; seed < 300 && !found; ++seed) {
    o.seed = seed;
    auto r = gen->generate_ids(prompt, o);
    ASSERT_TRUE(r.ok());
    if (r->finish != FinishReason::kStop) continue;
    found = true;
    const Seen e = run(prompt, o);
    EXPECT_EQ(e.last.finish, FinishReason::kStop);
    EXPECT_EQ(e.tokens, r->tokens);
    EXPECT_LT(static_cast<int64_t>(e.tokens.size()), o.max_tokens);
    o.ignore_eos = true;  // without end-of-text the same seed runs on past that point
    const Seen f = run(prompt, o);
    EXPECT_GT(f.tokens.size(), e.tokens.size());
    EXPECT_EQ(f.tokens[e.tokens.size()], test_models::kTinyEos);
  }
  EXPECT_TRUE(found) << "no seed in [0, 300) sampled <|endoftext|> within 60 tokens";
}

TEST(Scheduler, QueueFullCancelAndSinkFalseFreeSlots) {
  Collector c, c2;  // declared first: they outlive the scheduler that calls their sinks
  Gate gate;
  auto sched = make_scheduler(false, {.max_running = 1, .max_queue = 2});
  const auto prompt = ids_of("hello there");
  const SamplingOptions o{.temperature = 0.0f, .max_tokens = 40, .ignore_eos = true};
  int n_events = 0;
  StreamSink held = [&, inner = c.sink(0)](const StreamEvent& e) {
    if (++n_events == 3) gate.arrive();  // holds the scheduler thread inside the third event
    return inner(e);
  };
  auto a = sched->submit({.prompt_ids = prompt, .sampling = o}, held);
  ASSERT_TRUE(a.ok());
  gate.wait_arrived();
  // Slot taken, the scheduler is mid-step: stats are those of the forward that produced token 3.
  SchedulerStats st = sched->stats();
  EXPECT_EQ(st.running, 1);
  EXPECT_EQ(st.kv_used_tokens, static_cast<int64_t>(prompt.size()) + 2);
  EXPECT_EQ(st.last_batch_tokens, 1);
  auto b = sched->submit({.prompt_ids = prompt, .sampling = o}, c.sink(1));
  auto d = sched->submit({.prompt_ids = prompt, .sampling = o}, c.sink(2));
  EXPECT_TRUE(b.ok() && d.ok());  // no ASSERT while the gate holds the scheduler thread
  EXPECT_EQ(sched->stats().waiting, 2);
  auto full = sched->submit({.prompt_ids = prompt, .sampling = o}, c.sink(3));
  EXPECT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted) << full.status().to_string();
  sched->cancel(*a);  // running
  if (d.ok()) sched->cancel(*d);  // queued
  gate.open();
  ASSERT_TRUE(b.ok() && d.ok());
  c.wait(3);
  const Seen sa = c.get(0), sb = c.get(1), sd = c.get(2);
  EXPECT_EQ(sa.last.error.code(), StatusCode::kCancelled) << sa.last.error.to_string();
  EXPECT_EQ(sa.tokens.size(), 3u);
  EXPECT_EQ(sd.last.error.code(), StatusCode::kCancelled);
  EXPECT_TRUE(sd.tokens.empty());
  EXPECT_TRUE(sb.last.error.ok());
  EXPECT_EQ(sb.tokens.size(), 40u);  // the freed slot ran the next request to the end

  // A sink returning false (client gone) cancels at once and the slot serves the next request.
  int n_seen = 0;
  auto gone = sched->submit({.prompt_ids = prompt, .sampling = o},
                            [&, inner = c2.sink(0)](const StreamEvent& e) { return inner(e) && ++n_seen < 2; });
  auto next = sched->submit({.prompt_ids = prompt, .sampling = o}, c2.sink(1));
  ASSERT_TRUE(gone.ok() && next.ok());
  c2.wait(2);
  EXPECT_EQ(c2.get(0).last.error.code(), StatusCode::kCancelled);
  EXPECT_EQ(c2.get(0).tokens.size(), 2u);
  EXPECT_EQ(c2.get(0).n_final, 1);
  EXPECT_EQ(c2.get(1).tokens, sb.tokens);
  st = sched->stats();
  EXPECT_EQ(st.n_cancelled, 3u);
  EXPECT_EQ(st.n_completed, 2u);
  EXPECT_EQ(st.running, 0);
}

TEST(Scheduler, ZeroQueueStillFillsFreeSlots) {
  Collector c;  // outlives the scheduler: its sinks may be called until the scheduler is gone
  Gate gate;
  auto sched = make_scheduler(false, {.max_running = 1, .max_queue = 0});
  const ScheduledRequest r{.prompt_ids = ids_of("q"),
                           .sampling = {.temperature = 0.0f, .max_tokens = 30, .ignore_eos = true}};
  int n_events = 0;
  auto first = sched->submit(r, [&, inner = c.sink(0)](const StreamEvent& e) {
    if (++n_events == 1) gate.arrive();  // holds the slot
    return inner(e);
  });
  ASSERT_TRUE(first.ok());  // a free slot: accepted with max_queue 0
  gate.wait_arrived();
  auto second = sched->submit(r, c.sink(1));  // the slot is taken: nowhere to wait
  gate.open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  c.wait(1);
  EXPECT_EQ(c.get(0).tokens.size(), 30u);
}

TEST(Scheduler, ChunkedPrefillInterleavesWithDecode) {
  const SamplingOptions o{.temperature = 0.0f, .max_tokens = 20, .ignore_eos = true};
  Gate gate;
  std::mutex mu;
  int a_tokens = 0, a_tokens_at_b_first = -1;
  int64_t batch_at_b_first = -1;
  Collector c;
  auto sched = make_scheduler(false, {.max_running = 2});
  auto a = sched->submit({.prompt_ids = ids_of("hi"), .sampling = o}, [&, inner = c.sink(0)](const StreamEvent& e) {
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (e.token >= 0) n = ++a_tokens;
    }
    if (n == 1) gate.arrive();  // A is decoding before B arrives
    return inner(e);
  });
  ASSERT_TRUE(a.ok());
  gate.wait_arrived();
  const std::vector<int32_t> long_prompt(5 * kPrefillChunk, 'z');  // five chunks
  auto b = sched->submit({.prompt_ids = long_prompt, .sampling = o}, [&, inner = c.sink(1)](const StreamEvent& e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (e.token >= 0 && a_tokens_at_b_first < 0) {
        a_tokens_at_b_first = a_tokens;
        batch_at_b_first = sched->stats().last_batch_tokens;
      }
    }
    return inner(e);
  });
  gate.open();
  ASSERT_TRUE(b.ok());
  c.wait(2);
  // B's five prefill steps each carried A's decode token: A's token 1 (held) + 5 more before B's first.
  EXPECT_EQ(a_tokens_at_b_first, 1 + 5);
  EXPECT_EQ(batch_at_b_first, 1 + kPrefillChunk);  // A's decode + B's last chunk in one forward
  EXPECT_EQ(c.get(0).tokens.size(), 20u);
  EXPECT_EQ(c.get(1).tokens.size(), 20u);
}

TEST(Scheduler, DrainFinishesInFlightThenRefuses) {
  Collector c;
  auto sched = make_scheduler(true, {.max_running = 2});
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(sched->submit({.prompt_ids = ids_of("drain " + std::to_string(i)),
                               .sampling = {.temperature = 0.0f, .max_tokens = 10, .ignore_eos = true}},
                              c.sink(i)).ok());
  sched->drain();
  for (int i = 0; i < 5; ++i) {  // every accepted request finished before drain() returned
    const Seen s = c.get(i);
    EXPECT_EQ(s.n_final, 1) << i;
    EXPECT_EQ(s.tokens.size(), 10u) << i;
  }
  auto r = sched->submit({.prompt_ids = ids_of("late"), .sampling = {}}, c.sink(9));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(Scheduler, InvalidRequestsAreRejectedWithMessages) {
  Collector c;
  auto sched = make_scheduler(false);
  auto expect_invalid = [&](std::vector<int32_t> prompt, SamplingOptions o, const std::string& needle) {
    auto r = sched->submit({.prompt_ids = std::move(prompt), .sampling = o}, c.sink(0));
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  };
  expect_invalid({}, {}, "empty prompt");
  expect_invalid({1, 299}, {}, "prompt id 299 at index 1");  // a padding row, not a tokenizer id
  expect_invalid({-1}, {}, "prompt id -1");
  expect_invalid(std::vector<int32_t>(kTinyMaxSeq, 'a'), {}, "no room in a context of 64");
  expect_invalid({1}, {.max_tokens = -1}, "max_tokens -1 must be >= 0");
  expect_invalid({1}, {.top_p = 0.0f}, "top_p in (0, 1] (got 0)");
  expect_invalid({1}, {.temperature = -1.0f}, "temperature >= 0 (got -1)");
  auto scored = sched->submit({.prompt_ids = {1, 2}, .sampling = {}, .prompt_logprobs = true}, c.sink(0));
  ASSERT_FALSE(scored.ok());
  EXPECT_NE(scored.status().message().find("prompt_logprobs needs sampling.logprobs"), std::string::npos);
  EXPECT_FALSE(sched->submit({.prompt_ids = {1}, .sampling = {}}, StreamSink{}).ok());
  EXPECT_FALSE(Scheduler::create(tiny_model(), byte_tokenizer(), {.max_running = 0}).ok());
  EXPECT_FALSE(Scheduler::create(tiny_model(), byte_tokenizer(), {.max_running = 8, .max_batch_tokens = 4}).ok());
  EXPECT_FALSE(Scheduler::create(tiny_model(), byte_tokenizer(), {.max_seq = 65}).ok());
  EXPECT_EQ(sched->stats().n_failed, 0u);
}

// A request that scores its prompt (echo with logprobs) gets, with its first event, each prompt token's
// log-probability given the ones before it: the log-softmax (over the tokenizer's ids) of the logits a
// whole-prompt forward gives, computed here in double, and the top-3 alternatives by logit. Its prompt is
// prefilled in several chunks next to another sequence's decode steps; its completion equals that of the
// same request without scoring; with max_tokens 0 it only scores (one final event, no token).
// Several requests scoring their prompts at once share prefill_chunk scored rows per step (the rest wait),
// so the logits of one forward never exceed max_running + prefill_chunk rows, whatever max_batch_tokens
// allows; each request's scores still equal those of the same request alone.
TEST(Scheduler, ConcurrentPromptScoringKeepsTheLogitsBufferBounded) {
  const std::vector<int32_t> prompt = ids_of("Sphinx of black quartz, judge my vow.");
  const SamplingOptions score_only{.temperature = 0.0f, .max_tokens = 0, .logprobs = true};
  auto alone = make_scheduler(true, {.max_running = 1});
  Collector a;
  ASSERT_TRUE(alone->submit({.prompt_ids = prompt, .sampling = score_only, .prompt_logprobs = true}, a.sink(0)).ok());
  a.wait(1);
  const std::vector<SampledToken> want = a.get(0).prompt_logprobs;
  ASSERT_EQ(want.size(), prompt.size() - 1);

  constexpr int64_t kRunning = 3;
  auto sched = make_scheduler(true, {.max_running = kRunning, .max_batch_tokens = 4 * kPrefillChunk});
  Collector c;
  for (int i = 0; i < kRunning; ++i)
    ASSERT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = score_only, .prompt_logprobs = true}, c.sink(i)).ok());
  c.wait(kRunning);
  for (int i = 0; i < kRunning; ++i) {
    const std::vector<SampledToken>& got = c.get(i).prompt_logprobs;
    ASSERT_EQ(got.size(), want.size()) << "request " << i;
    for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k].logprob, want[k].logprob) << "request " << i << " " << k;
  }
  EXPECT_LE(sched->stats().max_logits_rows, kRunning + kPrefillChunk);
  EXPECT_GE(sched->stats().max_logits_rows, kPrefillChunk);
}

TEST(Scheduler, PromptLogprobsScoreEveryPromptTokenAcrossChunks) {
  for (bool llama : {false, true}) {
    SCOPED_TRACE(llama ? "llama" : "gpt2");
    const std::vector<int32_t> prompt = ids_of("Sphinx of black quartz, judge my vow.");
    const auto P = static_cast<int64_t>(prompt.size());
    ASSERT_GT(P, 3 * kPrefillChunk);
    const int64_t n_tok = byte_tokenizer().vocab_size(), top_n = 3;

    Collector c;
    auto sched = make_scheduler(llama, {.max_running = 3});
    SamplingOptions greedy{.temperature = 0.0f, .max_tokens = 20, .logprobs = true, .top_logprobs = top_n};
    ASSERT_TRUE(sched->submit({.prompt_ids = ids_of("Once upon"), .sampling = greedy}, c.sink(0)).ok());
    greedy.max_tokens = 4;
    ASSERT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = greedy, .prompt_logprobs = true}, c.sink(1)).ok());
    ASSERT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = greedy}, c.sink(2)).ok());
    SamplingOptions score_only = greedy;
    score_only.max_tokens = 0;  // prefill only: the prompt's scores come with the final event
    ASSERT_TRUE(sched->submit({.prompt_ids = prompt, .sampling = score_only, .prompt_logprobs = true}, c.sink(3)).ok());
    c.wait(4);
    const Seen scored = c.get(1), plain = c.get(2), only = c.get(3);
    EXPECT_TRUE(only.tokens.empty());
    EXPECT_EQ(only.n_final, 1);
    EXPECT_TRUE(only.last.error.ok()) << only.last.error.to_string();
    EXPECT_EQ(only.last.finish, FinishReason::kLength);
    ASSERT_EQ(only.prompt_logprobs.size(), scored.prompt_logprobs.size());
    for (size_t k = 0; k < only.prompt_logprobs.size(); ++k)
      EXPECT_EQ(only.prompt_logprobs[k].logprob, scored.prompt_logprobs[k].logprob) << k;
    EXPECT_EQ(c.get(0).n_prompt_logprob_events, 0);
    EXPECT_EQ(plain.n_prompt_logprob_events, 0);
    EXPECT_EQ(scored.n_prompt_logprob_events, 1);
    EXPECT_EQ(scored.tokens, plain.tokens);
    EXPECT_EQ(scored.logprobs, plain.logprobs);
    ASSERT_EQ(static_cast<int64_t>(scored.prompt_logprobs.size()), P - 1);

    // Reference: every row of one forward over the whole prompt (same cache type as the scheduler's).
    auto eng = Engine::create(tiny_model(llama), {.n_slots = 1, .max_batch_tokens = P});
    ASSERT_TRUE(eng.ok()) << eng.status().to_string();
    std::vector<TokenInput> batch;
    for (int64_t t = 0; t < P; ++t) batch.push_back({.slot = 0, .token = prompt[t], .pos = t});
    std::vector<float> logits(static_cast<size_t>(P * eng->vocab_size()));
    ASSERT_TRUE(eng->forward(batch, LogitsFor::kAll, logits.data()).ok());
    for (int64_t p = 1; p < P; ++p) {
      const float* row = logits.data() + (p - 1) * eng->vocab_size();
      double mx = -INFINITY, sum = 0.0;
      for (int64_t v = 0; v < n_tok; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      for (int64_t v = 0; v < n_tok; ++v) sum += std::exp(row[v] - mx);
      auto logprob = [&](int64_t v) { return row[v] - mx - std::log(sum); };
      std::vector<int32_t> order(static_cast<size_t>(n_tok));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
      const SampledToken& got = scored.prompt_logprobs[static_cast<size_t>(p - 1)];
      EXPECT_EQ(got.id, prompt[p]) << "position " << p;
      EXPECT_NEAR(got.logprob, logprob(prompt[p]), 1e-5) << "position " << p;
      ASSERT_EQ(static_cast<int64_t>(got.top.size()), top_n) << "position " << p;
      for (int64_t k = 0; k < top_n; ++k) {
        EXPECT_EQ(got.top[k].id, order[k]) << "position " << p << " alternative " << k;
        EXPECT_NEAR(got.top[k].logprob, logprob(order[k]), 1e-5) << "position " << p << " alternative " << k;
      }
    }
  }
}

TEST(Scheduler, DestructionWithRequestsInFlightSendsOneFinalEach) {
  Collector c;
  {
    auto sched = make_scheduler(false, {.max_running = 2});
    for (int i = 0; i < 6; ++i)
      ASSERT_TRUE(sched->submit({.prompt_ids = ids_of("bye"),
                                 .sampling = {.temperature = 0.0f, .max_tokens = 50, .ignore_eos = true}},
                                c.sink(i)).ok());
  }
  for (int i = 0; i < 6; ++i) {
    const Seen s = c.get(i);
    EXPECT_EQ(s.n_final, 1) << i;
    EXPECT_TRUE(s.last.error.ok() || s.last.error.code() == StatusCode::kCancelled) << s.last.error.to_string();
  }
}

}  // namespace
}  // namespace anvil::infer
