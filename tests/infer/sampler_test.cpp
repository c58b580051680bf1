// Sampler: greedy, temperature, top-k and top-p masks (exact, against a brute-force full-sort reference on
// small and >64-token vocabularies), the three penalties, logit_bias, seeded determinism, the empirical distribution of
// many draws, logprobs of the raw logits (finite far below the best), and top_logprobs (the N largest raw
// log-probabilities, against
// a double-precision full-sort reference; ties by id; none for N = 0; request bounds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/infer/sampler.h"
#include "anvil/infer/sequence.h"
#include "tiny_models.h"

namespace anvil::infer {
namespace {

constexpr float kProbTol = 1e-6f;         // probabilities computed in float vs double reference
constexpr double kLogprobTol = 1e-4;      // log of a float softmax vs a double log-softmax (|lp| up to ~20)
constexpr int kDraws = 40000;
constexpr double kSigmas = 5.0;           // empirical frequency within 5 binomial standard deviations

std::vector<float> softmax_ref(const std::vector<float>& l, const std::vector<bool>& keep, double t) {
  double mx = -INFINITY, sum = 0.0;
  for (size_t i = 0; i < l.size(); ++i)
    if (keep[i]) mx = std::max(mx, static_cast<double>(l[i]));
  std::vector<double> e(l.size(), 0.0);
  for (size_t i = 0; i < l.size(); ++i)
    if (keep[i]) sum += e[i] = std::exp((l[i] - mx) / t);
  std::vector<float> p(l.size());
  for (size_t i = 0; i < l.size(); ++i) p[i] = static_cast<float>(e[i] / sum);
  return p;
}

// Brute force: HF top-k (>= k-th largest), then renormalise, full sort, keep while mass before < top_p.
std::vector<float> reference_distribution(const std::vector<float>& l, double t, int64_t k, double top_p) {
  const size_t V = l.size();
  std::vector<bool> keep(V, true);
  if (k > 0 && k < static_cast<int64_t>(V)) {
    std::vector<float> s = l;
    std::sort(s.begin(), s.end(), std::greater<>());
    for (size_t i = 0; i < V; ++i) keep[i] = l[i] >= s[static_cast<size_t>(k - 1)];
  }
  std::vector<float> p = softmax_ref(l, keep, t);
  if (top_p < 1.0) {
    std::vector<size_t> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    double before = 0.0;
    std::vector<bool> nucleus(V, false);
    for (size_t r = 0; r < V && keep[idx[r]] && (r == 0 || before < top_p); ++r) {
      nucleus[idx[r]] = true;
      before += p[idx[r]];
    }
    p = softmax_ref(l, nucleus, t);
  }
  return p;
}

std::vector<float> random_logits(size_t V, uint64_t seed, double spread) {
  Rng r(seed);
  std::vector<float> l(V);
  for (float& x : l) x = static_cast<float>(r.normal() * spread);
  return l;
}

std::vector<float> dist(const SamplingOptions& o, std::vector<float> logits) {
  Sampler s(o, static_cast<int64_t>(logits.size()));
  s.reset({});
  std::vector<float> p(logits.size());
  s.distribution(logits.data(), p.data());
  return p;
}

void expect_probs(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i] == 0.0f, want[i] == 0.0f) << what << ": mask differs at " << i;
    EXPECT_NEAR(got[i], want[i], kProbTol) << what << " at " << i;
  }
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s({.temperature = 0.0f}, 5);
  s.reset({});
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f};
  EXPECT_EQ(s.sample(l.data()).id, 1);
  // A vocabulary of many scan blocks and a ragged tail: the first of tied maxima wherever they fall.
  constexpr int64_t kV = 1000;
  Sampler big({.temperature = 0.0f}, kV);
  big.reset({});
  for (const std::vector<int64_t>& at : std::vector<std::vector<int64_t>>{{0}, {999}, {63, 64}, {130, 700, 999}}) {
    std::vector<float> x(kV);
    for (int64_t i = 0; i < kV; ++i) x[static_cast<size_t>(i)] = std::sin(static_cast<float>(i));  // < 1
    for (int64_t i : at) x[static_cast<size_t>(i)] = 2.0f;
    EXPECT_EQ(big.sample(x.data()).id, at[0]);
  }
}

// A model whose vocabulary is padded past the tokenizer's (300 rows, 257 tokens): the padding rows are
// never sampled nor among top_logprobs, however large their logits, and logprobs normalise over the
// tokenizer's tokens only.
TEST(SequenceState, RowsPastTheTokenizerAreNeverSampled) {
  const tok::Tokenizer t = test_models::byte_tokenizer();
  constexpr int64_t kV = test_models::kTinyVocab, kTok = 257;
  for (const float temperature : {0.0f, 1.0f}) {
    const SamplingOptions o{.temperature = temperature, .seed = 3, .max_tokens = 100, .logprobs = true,
                            .top_logprobs = 3};
    SequenceState seq(t, o, kV, -1, std::vector<int32_t>{65});
    Rng rng(9);
    for (int64_t pos = 1; pos < 40; ++pos) {
      std::vector<float> l(kV);
      for (float& x : l) x = rng.uniform_f32() * 4.0f;
      for (int64_t i = kTok; i < kV; ++i) l[static_cast<size_t>(i)] = 100.0f;
      const std::vector<float> raw = l;
      auto s = seq.step(l.data(), pos, 1000);
      ASSERT_TRUE(s.ok()) << s.status().to_string();
      ASSERT_LT(s->id, kTok) << "temperature " << temperature;
      double mx = -INFINITY, sum = 0.0;
      for (int64_t i = 0; i < kTok; ++i) mx = std::max(mx, static_cast<double>(raw[static_cast<size_t>(i)]));
      for (int64_t i = 0; i < kTok; ++i) sum += std::exp(raw[static_cast<size_t>(i)] - mx);
      EXPECT_NEAR(s->logprob, raw[static_cast<size_t>(s->id)] - mx - std::log(sum), kLogprobTol);
      ASSERT_EQ(s->top.size(), 3u);
      for (const TopLogprob& top : s->top) EXPECT_LT(top.id, kTok);
    }
  }
}

TEST(Sampler, TopKTopPMasksExact) {
  // Small hand case: probs 0.5, 0.25, 0.125, 0.125 (logits = log p).
  const std::vector<float> l = {std::log(0.125f), std::log(0.5f), std::log(0.125f), std::log(0.25f)};
  expect_probs(dist({.top_p = 0.7f}, l), {0, 2.0f / 3, 0, 1.0f / 3}, "top_p 0.7");
  expect_probs(dist({.top_p = 0.5f}, l), {0, 1, 0, 0}, "top_p 0.5 keeps only the top token");
  expect_probs(dist({.top_k = 1}, l), {0, 1, 0, 0}, "top_k 1");
  expect_probs(dist({.top_k = 3}, l), {0.125f, 0.5f, 0.125f, 0.25f}, "top_k 3 keeps the tie at the boundary");
  // Random vocabularies, larger than the first top-p sort (64), against the full-sort reference.
  for (size_t V : {7u, 50u, 300u, 2000u}) {
    for (double spread : {0.5, 3.0}) {
      const auto logits = random_logits(V, V * 31 + static_cast<uint64_t>(spread * 10), spread);
      for (int64_t k : {0, 1, 5, 100}) {
        for (float p : {1.0f, 0.95f, 0.6f, 0.1f}) {
          for (float t : {1.0f, 0.7f}) {
            SCOPED_TRACE(testing::Message() << "V=" << V << " spread=" << spread << " k=" << k << " p=" << p << " t=" << t);
            expect_probs(dist({.temperature = t, .top_k = k, .top_p = p}, logits), reference_distribution(logits, t, k, p),
                         "top-k/top-p");
          }
        }
      }
    }
  }
}

TEST(Sampler, Penalties) {
  // Repetition (HF/CTRL): prompt and output tokens; positive logits divided, negative multiplied.
  {
    Sampler s({.temperature = 0.0f, .repetition_penalty = 2.0f}, 4);
    const std::vector<int32_t> prompt = {0, 1};
    s.reset(prompt);
    std::vector<float> l = {2.0f, -2.0f, 1.5f, 0.5f}, p(4);
    s.distribution(l.data(), p.data());
    EXPECT_EQ(l, (std::vector<float>{1.0f, -4.0f, 1.5f, 0.5f}));
    EXPECT_EQ(p[2], 1.0f);  // token 2 now wins
  }
  // Frequency / presence (OpenAI): generated tokens only, count * f + (count > 0) * p.
  {
    Sampler s({.temperature = 0.0f, .frequency_penalty = 0.5f, .presence_penalty = 1.0f}, 4);
    const std::vector<int32_t> prompt = {3};
    s.reset(prompt);
    s.accept(0), s.accept(0), s.accept(1);
    std::vector<float> l = {1.0f, 1.0f, 1.0f, 1.0f}, p(4);
    s.distribution(l.data(), p.data());
    EXPECT_EQ(l, (std::vector<float>{1.0f - 2.0f, 1.0f - 1.5f, 1.0f, 1.0f}));
    s.reset(prompt);  // a new sequence forgets the counts
    l = {1.0f, 1.0f, 1.0f, 1.0f};
    s.distribution(l.data(), p.data());
    EXPECT_EQ(l, (std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f}));
  }
}

// logit_bias: added after the penalties, before temperature and greedy; +100 forces a token, -100 bans
// one; the chosen token's logprob stays that of the raw logits; bad entries are refused.
TEST(Sampler, LogitBias) {
  const std::vector<float> logits = {1.0f, 3.0f, 0.5f, 2.0f};
  {
    Sampler s({.temperature = 0.0f, .repetition_penalty = 2.0f, .logit_bias = {{1, -1.5f}, {2, 0.25f}}}, 4);
    const std::vector<int32_t> prompt = {1};
    s.reset(prompt);
    std::vector<float> l = logits, p(4);
    s.distribution(l.data(), p.data());
    EXPECT_EQ(l, (std::vector<float>{1.0f, 3.0f / 2.0f - 1.5f, 0.75f, 2.0f}));  // penalty first, then the bias
    EXPECT_EQ(p[3], 1.0f);
  }
  const double lse = std::log(std::exp(1.0) + std::exp(3.0) + std::exp(0.5) + std::exp(2.0));
  for (const float t : {0.0f, 1.0f}) {
    Sampler force({.temperature = t, .seed = 3, .logprobs = true, .logit_bias = {{2, kMaxLogitBias}}}, 4);
    Sampler ban({.temperature = t, .seed = 3, .logit_bias = {{1, -kMaxLogitBias}, {3, -kMaxLogitBias}}}, 4);
    force.reset({}), ban.reset({});
    for (int i = 0; i < 200; ++i) {
      std::vector<float> l = logits;
      const SampledToken f = force.sample(l.data());
      EXPECT_EQ(f.id, 2) << "temperature " << t;
      EXPECT_NEAR(f.logprob, 0.5 - lse, 1e-6) << "the raw logprob, not the biased one";
      l = logits;
      const int32_t b = ban.sample(l.data()).id;
      EXPECT_TRUE(b == 0 || b == 2) << "temperature " << t << " drew banned token " << b;
    }
  }
  auto invalid = [](std::vector<TokenBias> bias, const std::string& needle) {
    const std::vector<int32_t> prompt = {0};
    const Status st = validate_request(prompt, {.logit_bias = std::move(bias)}, 4, "test");
    EXPECT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.to_string();
  };
  invalid({{4, 1.0f}}, "token 4 must be in [0, 4)");
  invalid({{-1, 1.0f}}, "token -1");
  invalid({{0, 100.5f}}, "bias 100.5");
  invalid({{0, std::nanf("")}}, "bias nan");
  invalid({{0, 1.0f}, {0, 2.0f}}, "lists token 0 twice");
}

TEST(Sampler, SeededDrawsFollowTheDistribution) {
  const std::vector<float> logits = {0.3f, -1.0f, 1.2f, 0.0f, 2.0f, -3.0f};
  const SamplingOptions o{.temperature = 0.8f, .top_k = 5, .top_p = 0.9f, .seed = 99};
  const auto want = reference_distribution(logits, 0.8, 5, 0.9);
  Sampler s(o, 6);
  s.reset({});
  std::vector<int> counts(6, 0);
  std::vector<int32_t> first;
  for (int i = 0; i < kDraws; ++i) {
    std::vector<float> l = logits;
    const int32_t id = s.sample(l.data()).id;
    ++counts[static_cast<size_t>(id)];
    if (i < 50) first.push_back(id);
  }
  for (size_t i = 0; i < 6; ++i) {
    const double p = want[i], sd = std::sqrt(kDraws * p * (1 - p));
    EXPECT_NEAR(counts[i], kDraws * p, kSigmas * sd + 0.5) << "token " << i;
    if (p == 0.0) {
      EXPECT_EQ(counts[i], 0) << "masked token " << i << " drawn";
    }
  }
  // Same seed, same draws (after reset too); another seed, other draws.
  auto draws = [&](uint64_t seed) {
    SamplingOptions o2 = o;
    o2.seed = seed;
    Sampler s2(o2, 6);
    s2.reset({});
    std::vector<int32_t> ids;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> l = logits;
      ids.push_back(s2.sample(l.data()).id);
    }
    return ids;
  };
  EXPECT_EQ(draws(99), first);
  EXPECT_NE(draws(100), first);
}

TEST(Sampler, LogprobsAreTheRawModelLogprobs) {
  const std::vector<float> logits = {0.5f, 1.5f, -0.5f};
  Sampler s({.temperature = 0.3f, .repetition_penalty = 1.3f, .logprobs = true}, 3);
  const std::vector<int32_t> prompt = {1};
  s.reset(prompt);
  std::vector<float> l = logits;
  const SampledToken t = s.sample(l.data());
  const double lse = std::log(std::exp(0.5) + std::exp(1.5) + std::exp(-0.5));
  EXPECT_NEAR(t.logprob, logits[static_cast<size_t>(t.id)] - lse, 1e-6);
}

// A token far below the best still has a finite logprob (log-sum-exp: a float softmax would round its
// probability, e^-110, to 0 and report -inf, which the HTTP answers carry as null).
TEST(Sampler, LogprobsFarBelowTheBestStayFinite) {
  Sampler s({.temperature = 0.0f, .repetition_penalty = 100.0f, .logprobs = true, .top_logprobs = 2}, 2);
  const std::vector<int32_t> prompt = {0};  // the penalty takes token 0 to 1.2, below token 1: greedy picks 1
  s.reset(prompt);
  std::vector<float> l = {120.0f, 10.0f};
  const SampledToken t = s.sample(l.data());
  EXPECT_EQ(t.id, 1);
  EXPECT_NEAR(t.logprob, -110.0f, 1e-4);
  ASSERT_EQ(t.top.size(), 2u);
  EXPECT_EQ(t.top[0].id, 0);
  EXPECT_NEAR(t.top[0].logprob, 0.0f, 1e-6);
  EXPECT_EQ(t.top[1].id, 1);
  EXPECT_EQ(t.top[1].logprob, t.logprob);
}

// log-softmax in double, and the ids sorted by it, descending, equal values in id order.
std::vector<double> log_softmax_ref(const std::vector<float>& l) {
  double mx = -INFINITY, sum = 0.0;
  for (float x : l) mx = std::max(mx, static_cast<double>(x));
  for (float x : l) sum += std::exp(x - mx);
  std::vector<double> out(l.size());
  for (size_t i = 0; i < l.size(); ++i) out[i] = l[i] - mx - std::log(sum);
  return out;
}

std::vector<int32_t> ids_by_logprob(const std::vector<double>& lp) {
  std::vector<int32_t> ids(lp.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return lp[a] > lp[b]; });
  return ids;
}

TEST(Sampler, TopLogprobsAreTheLargestRawLogprobs) {
  constexpr size_t kV = 1000;
  for (const int64_t n : {1, 5, 20}) {
    const std::vector<float> logits = random_logits(kV, 40 + static_cast<uint64_t>(n), 3.0);
    const std::vector<double> ref = log_softmax_ref(logits);
    const std::vector<int32_t> order = ids_by_logprob(ref);
    // Penalties, temperature and truncation change what is drawn, not what is reported.
    Sampler s({.temperature = 0.7f, .top_k = 50, .top_p = 0.9f, .repetition_penalty = 1.5f, .seed = 3,
               .logprobs = true, .top_logprobs = n},
              static_cast<int64_t>(kV));
    const std::vector<int32_t> prompt = {order[0], order[1]};
    s.reset(prompt);
    std::vector<float> l = logits;
    const SampledToken t = s.sample(l.data());
    ASSERT_EQ(t.top.size(), static_cast<size_t>(n));
    for (size_t r = 0; r < t.top.size(); ++r) {
      EXPECT_EQ(t.top[r].id, order[r]) << "n " << n << " rank " << r;
      EXPECT_NEAR(t.top[r].logprob, ref[static_cast<size_t>(order[r])], kLogprobTol) << "n " << n << " rank " << r;
      if (r > 0) {
        EXPECT_GE(t.top[r - 1].logprob, t.top[r].logprob);
      }
      if (t.top[r].id == t.id) {
        EXPECT_EQ(t.top[r].logprob, t.logprob);  // one definition for both
      }
    }
    EXPECT_NEAR(t.logprob, ref[static_cast<size_t>(t.id)], kLogprobTol);
  }
}

TEST(Sampler, TopLogprobsTiesZerosAndOff) {
  // Ties keep id order; tokens of zero probability (masked rows) never appear, so fewer than N come back.
  const std::vector<float> logits = {1.0f, 2.0f, -INFINITY, 2.0f, 0.5f, -INFINITY};
  Sampler s({.temperature = 0.0f, .logprobs = true, .top_logprobs = 20}, 6);
  s.reset({});
  std::vector<float> l = logits;
  const SampledToken t = s.sample(l.data());
  std::vector<int32_t> ids;
  for (const TopLogprob& x : t.top) ids.push_back(x.id);
  ASSERT_EQ(ids, (std::vector<int32_t>{1, 3, 0, 4}));
  EXPECT_NEAR(t.top[0].logprob, t.top[1].logprob, kLogprobTol);
  EXPECT_EQ(t.id, 1);
  EXPECT_EQ(t.top[0].logprob, t.logprob);

  Sampler off({.temperature = 0.0f, .logprobs = true}, 6);
  off.reset({});
  l = logits;
  EXPECT_TRUE(off.sample(l.data()).top.empty());
}

TEST(Sampler, TopLogprobsBoundsAreChecked) {
  const std::vector<int32_t> prompt = {1};
  EXPECT_TRUE(validate_request(prompt, {.logprobs = true, .top_logprobs = kMaxTopLogprobs}, 4, "t").ok());
  EXPECT_TRUE(validate_request(prompt, {.logprobs = false, .top_logprobs = 0}, 4, "t").ok());
  for (const SamplingOptions& bad : {SamplingOptions{.logprobs = true, .top_logprobs = kMaxTopLogprobs + 1},
                                     SamplingOptions{.logprobs = true, .top_logprobs = -1},
                                     SamplingOptions{.logprobs = false, .top_logprobs = 2}}) {
    const Status st = validate_request(prompt, bad, 4, "t");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("top_logprobs"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace anvil::infer
