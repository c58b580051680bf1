// Sampler (see sampler.h for the exact semantics of each option). Top-p sorts only as many candidates as
// it needs: the largest 64 by nth_element + sort, doubling until their mass reaches top_p, so a 32k vocab
// with a peaked distribution costs a few O(V) passes rather than a full sort. Logprobs are of the raw logits,
// as log-sum-exp (logit - max - log sum exp(logit - max)): two passes, and no underflow to -inf for a
// token far below the best. top_logprobs: one pass over the raw logits against the current N-th best (an
// insertion only for a token that beats it).
#include "anvil/infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

namespace anvil::infer {
namespace {

constexpr int64_t kTopPFirstSort = 64;
constexpr int64_t kTopScanBlock = 64;  // tokens tested at once (branch-free) in the argmax and top_logprobs scans

// The first index of the largest value (with NaNs in x: 0 or the first largest non-NaN). Two vectorised
// passes: the maximum, then blocks tested branch-free for it (a scalar `x[i] > x[best]` scan does not
// vectorise).
int32_t argmax(const float* x, int64_t n) {
  const float m = ops::simd::max(x, n);
  for (int64_t b = 0; b < n; b += kTopScanBlock) {
    const int64_t e = std::min(b + kTopScanBlock, n);
    int any = 0;
    for (int64_t i = b; i < e; ++i) any |= x[i] == m;
    if (!any) continue;
    for (int64_t i = b; i < e; ++i)
      if (x[i] == m) return static_cast<int32_t>(i);
  }
  return 0;
}

}  // namespace

Sampler::Sampler(const SamplingOptions& opt, int64_t vocab_size)
    : opt_(opt), V_(vocab_size), rng_(opt.seed), counts_(static_cast<size_t>(vocab_size), 0),
      seen_(static_cast<size_t>(vocab_size), 0), probs_(static_cast<size_t>(vocab_size)),
      order_(static_cast<size_t>(vocab_size)) {}

void Sampler::reset(std::span<const int32_t> prompt) {
  for (int32_t id : touched_) counts_[static_cast<size_t>(id)] = 0, seen_[static_cast<size_t>(id)] = 0;
  touched_.clear();
  for (int32_t id : prompt) {
    if (id < 0 || id >= V_ || seen_[static_cast<size_t>(id)]) continue;
    seen_[static_cast<size_t>(id)] = 1;
    touched_.push_back(id);
  }
  rng_.reseed(opt_.seed);
}

void Sampler::accept(int32_t id) {
  if (id < 0 || id >= V_) return;
  ++counts_[static_cast<size_t>(id)];
  if (!seen_[static_cast<size_t>(id)]) {
    seen_[static_cast<size_t>(id)] = 1;
    touched_.push_back(id);
  }
}

bool Sampler::penalised() const {
  return opt_.repetition_penalty != 1.0f || opt_.frequency_penalty != 0.0f || opt_.presence_penalty != 0.0f;
}

void Sampler::adjust_logits(float* logits) const {
  const float r = opt_.repetition_penalty, f = opt_.frequency_penalty, p = opt_.presence_penalty;
  if (penalised()) {
    for (int32_t id : touched_) {
      float& l = logits[id];
      if (r != 1.0f) l = l > 0.0f ? l / r : l * r;
      const int32_t n = counts_[static_cast<size_t>(id)];
      l -= static_cast<float>(n) * f + (n > 0 ? p : 0.0f);
    }
  }
  for (const TokenBias& b : opt_.logit_bias) logits[b.id] += b.bias;
}

void Sampler::raw_log_softmax(const float* logits) {
  raw_max_ = ops::simd::max(logits, V_);
  // The shifted exponentials go to probs_, scratch until truncated_softmax() fills it.
  raw_log_sum_ = std::log(ops::simd::exp_shift_sum(probs_.data(), logits, raw_max_, V_));
}

void Sampler::top_raw(const float* logits, std::vector<TopLogprob>& out) const {
  const auto n = static_cast<size_t>(opt_.top_logprobs);
  out.clear();
  out.reserve(n);
  // Holds logits while selecting; sorted descending, equal ones in id order (strict > to enter).
  float floor = -INFINITY;  // to enter, beat this: the N-th best once N are held (masked tokens never enter)
  for (int64_t b = 0; b < V_; b += kTopScanBlock) {
    const int64_t e = std::min(b + kTopScanBlock, V_);
    int any = 0;  // a branch-free (vectorised) test per block: most blocks hold no candidate
    for (int64_t i = b; i < e; ++i) any |= logits[i] > floor;
    if (!any) continue;
    for (int64_t i = b; i < e; ++i) {
      const float l = logits[i];
      if (!(l > floor)) continue;
      if (out.size() == n) out.pop_back();
      const auto at =
          std::upper_bound(out.begin(), out.end(), l, [](float v, const TopLogprob& t) { return v > t.logprob; });
      out.insert(at, TopLogprob{.id = static_cast<int32_t>(i), .logprob = l});
      if (out.size() == n) floor = out.back().logprob;
    }
  }
  for (TopLogprob& t : out) t.logprob = raw_logprob(t.logprob);
}

void Sampler::truncated_softmax(const float* logits, float* probs) {
  const int64_t V = V_;
  const float inv_t = 1.0f / opt_.temperature;
  // Candidates: all tokens, or those at or above the k-th largest logit.
  int64_t n_cand = V;
  std::iota(order_.begin(), order_.end(), 0);
  if (opt_.top_k > 0 && opt_.top_k < V) {
    std::nth_element(order_.begin(), order_.begin() + (opt_.top_k - 1), order_.end(),
                     [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    const float kth = logits[order_[static_cast<size_t>(opt_.top_k - 1)]];
    n_cand = 0;
    for (int64_t i = 0; i < V; ++i)
      if (logits[i] >= kth) order_[static_cast<size_t>(n_cand++)] = static_cast<int32_t>(i);
  }
  std::fill(probs, probs + V, 0.0f);
  float mx = -INFINITY;
  for (int64_t c = 0; c < n_cand; ++c) mx = std::max(mx, logits[order_[static_cast<size_t>(c)]]);
  double sum = 0.0;
  for (int64_t c = 0; c < n_cand; ++c) {
    const int32_t id = order_[static_cast<size_t>(c)];
    sum += probs[id] = std::exp((logits[id] - mx) * inv_t);
  }
  for (int64_t c = 0; c < n_cand; ++c) probs[order_[static_cast<size_t>(c)]] /= static_cast<float>(sum);
  if (!(opt_.top_p < 1.0f)) return;

  // Nucleus: sort the largest m candidates (m doubling) until their mass reaches top_p.
  auto by_prob = [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); };
  const auto cand_end = order_.begin() + n_cand;
  int64_t m = std::min(kTopPFirstSort, n_cand), n_keep = 0;
  for (;;) {
    std::nth_element(order_.begin(), order_.begin() + (m - 1), cand_end, by_prob);
    std::sort(order_.begin(), order_.begin() + m, by_prob);
    double before = 0.0;
    n_keep = 0;
    while (n_keep < m && (n_keep == 0 || before < opt_.top_p)) before += probs[order_[static_cast<size_t>(n_keep++)]];
    if (before >= opt_.top_p || m == n_cand) break;
    m = std::min(2 * m, n_cand);
  }
  double kept = 0.0;
  for (int64_t c = 0; c < n_keep; ++c) kept += probs[order_[static_cast<size_t>(c)]];
  for (int64_t c = n_keep; c < n_cand; ++c) probs[order_[static_cast<size_t>(c)]] = 0.0f;
  for (int64_t c = 0; c < n_keep; ++c) probs[order_[static_cast<size_t>(c)]] /= static_cast<float>(kept);
}

void Sampler::distribution(float* logits, float* probs) {
  adjust_logits(logits);
  if (opt_.temperature <= 0.0f) {
    std::fill(probs, probs + V_, 0.0f);
    probs[argmax(logits, V_)] = 1.0f;
    return;
  }
  truncated_softmax(logits, probs);
}

SampledToken Sampler::score(float* logits, int32_t id) {
  SampledToken out;
  out.id = id;
  raw_log_softmax(logits);
  if (opt_.top_logprobs > 0) top_raw(logits, out.top);
  out.logprob = raw_logprob(logits[id]);
  return out;
}

SampledToken Sampler::sample(float* logits) {
  SampledToken out;
  const bool want_logprob = opt_.logprobs || opt_.top_logprobs > 0;
  if (want_logprob) {
    raw_log_softmax(logits);
    if (opt_.top_logprobs > 0) top_raw(logits, out.top);
    if (penalised()) {  // the only logits the penalties change
      raw_touched_.resize(touched_.size());
      for (size_t k = 0; k < touched_.size(); ++k) raw_touched_[k] = logits[touched_[k]];
    }
    raw_biased_.resize(opt_.logit_bias.size());  // and the only ones logit_bias changes
    for (size_t k = 0; k < opt_.logit_bias.size(); ++k) raw_biased_[k] = logits[opt_.logit_bias[k].id];
  }
  adjust_logits(logits);
  if (opt_.temperature <= 0.0f) {
    out.id = argmax(logits, V_);
  } else {
    truncated_softmax(logits, probs_.data());
    // Inverse CDF in id order (deterministic for a seed); rounding past the end picks the last nonzero.
    const double u = rng_.uniform_f64();
    double cum = 0.0;
    int64_t last = 0;
    out.id = -1;
    for (int64_t i = 0; i < V_; ++i) {
      const float p = probs_[static_cast<size_t>(i)];
      if (p <= 0.0f) continue;
      last = i;
      cum += p;
      if (u < cum) {
        out.id = static_cast<int32_t>(i);
        break;
      }
    }
    if (out.id < 0) out.id = static_cast<int32_t>(last);
  }
  if (want_logprob) {
    float raw = logits[out.id];
    const auto biased = std::find_if(opt_.logit_bias.begin(), opt_.logit_bias.end(),
                                     [&](const TokenBias& b) { return b.id == out.id; });
    if (penalised() && seen_[static_cast<size_t>(out.id)]) {  // its raw logit was saved
      const auto k = std::find(touched_.begin(), touched_.end(), out.id) - touched_.begin();
      raw = raw_touched_[static_cast<size_t>(k)];
    } else if (biased != opt_.logit_bias.end()) {
      raw = raw_biased_[static_cast<size_t>(biased - opt_.logit_bias.begin())];
    }
    out.logprob = raw_logprob(raw);
  }
  return out;
}

}  // namespace anvil::infer
