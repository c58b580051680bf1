// Modified Kneser-Ney estimation and scoring (kn_lm.h). N-grams are keyed by xxh3-64 of their word
// ids; each entry also keeps its context and suffix keys, which is all estimation needs.
#include "anvil/data/kn_lm.h"

#include <algorithm>
#include <cmath>

#include <xxhash.h>

#include "anvil/base/check.h"
#include "anvil/data/dedup.h"

namespace anvil::data {
namespace {

uint64_t key(const uint32_t* ids, size_t n) { return XXH3_64bits(ids, n * sizeof(uint32_t)); }

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    f(text.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> words_of(const std::string& simple) {
  std::vector<std::string_view> w;
  size_t start = 0;
  while (start < simple.size()) {
    size_t end = simple.find(' ', start);
    if (end == std::string::npos) end = simple.size();
    if (end > start) w.emplace_back(simple.data() + start, end - start);
    start = end + 1;
  }
  return w;
}

}  // namespace

KnLm::KnLm(const KnOptions& opt) : opt_(opt), order_(opt.order) {
  for (const char* w : {"<unk>", "<s>", "</s>"}) {
    vocab_.emplace(w, static_cast<uint32_t>(words_.size()));
    words_.emplace_back(w);
  }
  grams_.resize(static_cast<size_t>(std::max(order_, 1)));
}

void KnLm::add_text(std::string_view text) {
  std::vector<uint32_t> ids;
  for_each_line(text, [&](std::string_view line) {
    const std::string simple = simplify_for_minhash(line);
    const auto words = words_of(simple);
    if (words.empty()) return;
    ids.assign(1, kBos);
    for (auto w : words) {
      auto [it, added] = vocab_.try_emplace(std::string(w), static_cast<uint32_t>(words_.size()));
      if (added) words_.emplace_back(w);
      ids.push_back(it->second);
    }
    ids.push_back(kEos);
    for (size_t j = 1; j < ids.size(); ++j) {  // n-grams ending at j (never predicting <s>)
      for (size_t n = 1; n <= static_cast<size_t>(order_) && n <= j + 1; ++n) {
        const uint32_t* g = ids.data() + j + 1 - n;
        Gram& e = grams_[n - 1][key(g, n)];
        if (e.raw++ == 0) {
          e.context = key(g, n - 1);
          e.suffix = key(g + 1, n - 1);
          e.starts_bos = g[0] == kBos;
        }
      }
    }
  });
}

Status KnLm::finish() {
  if (order_ < 1 || order_ > kMaxOrder) return invalid_argument("[lm] order must be in [1, {}], got {}", kMaxOrder, order_);
  if (grams_[0].empty()) return invalid_argument("[lm] no training text");
  // Adjusted counts: raw at the highest order and for n-grams starting with <s>, else the number of
  // distinct words seen to the left (continuation counts).
  for (size_t n = 0; n < grams_.size(); ++n) {
    for (auto& [k, g] : grams_[n]) g.adjusted = (n + 1 == grams_.size() || g.starts_bos) ? g.raw : 0;
  }
  for (size_t n = 1; n < grams_.size(); ++n) {
    for (const auto& [k, g] : grams_[n]) {
      auto it = grams_[n - 1].find(g.suffix);
      if (it != grams_[n - 1].end() && !it->second.starts_bos) ++it->second.adjusted;
    }
  }
  discounts_.assign(grams_.size(), opt_.discount_fallback);
  contexts_.assign(grams_.size(), {});
  for (size_t n = 0; n < grams_.size(); ++n) {
    std::array<double, 5> cc{};  // count-of-counts n1..n4
    for (const auto& [k, g] : grams_[n]) {
      if (g.adjusted >= 1 && g.adjusted <= 4) cc[g.adjusted] += 1;
    }
    if (!opt_.force_fallback && cc[1] > 0 && cc[2] > 0 && cc[3] > 0 && cc[4] > 0) {
      const double y = cc[1] / (cc[1] + 2 * cc[2]);
      std::array<double, 3> d;
      bool ok = true;
      for (int k = 1; k <= 3; ++k) {
        d[k - 1] = k - (k + 1) * y * cc[k + 1] / cc[k];
        ok &= d[k - 1] > 0 && d[k - 1] <= k;
      }
      if (ok) discounts_[n] = d;
    }
    for (const auto& [k, g] : grams_[n]) {
      Context& c = contexts_[n][g.context];
      c.sum += g.adjusted;
      c.n1 += g.adjusted == 1, c.n2 += g.adjusted == 2, c.n3p += g.adjusted >= 3;
    }
  }
  n_predictable_ = words_.size() - 1;  // every word but <s>, including <unk> and </s>
  finished_ = true;
  return ok_status();
}

double KnLm::interpolate(const uint32_t* hist, size_t n_hist, uint32_t word) const {
  double p = 1.0 / static_cast<double>(n_predictable_);
  uint32_t g[kMaxOrder];
  for (size_t n = 1; n <= grams_.size() && n <= n_hist + 1; ++n) {
    std::copy(hist + n_hist - (n - 1), hist + n_hist, g);  // the last n-1 words, then `word`
    auto c = contexts_[n - 1].find(key(g, n - 1));
    if (c == contexts_[n - 1].end() || c->second.sum == 0) break;  // longer contexts are unseen too
    g[n - 1] = word;
    auto e = grams_[n - 1].find(key(g, n));
    const uint32_t a = e == grams_[n - 1].end() ? 0 : e->second.adjusted;
    const auto& d = discounts_[n - 1];
    const double sum = static_cast<double>(c->second.sum);
    const double gamma = (d[0] * c->second.n1 + d[1] * c->second.n2 + d[2] * c->second.n3p) / sum;
    const double discounted = a == 0 ? 0.0 : std::max(a - d[std::min<uint32_t>(a, 3) - 1], 0.0);
    p = discounted / sum + gamma * p;
  }
  return p;
}

double KnLm::prob(const std::vector<uint32_t>& context, uint32_t word) const {
  ANVIL_CHECK(finished_, "KnLm::prob before finish()");
  const size_t keep = std::min(context.size(), static_cast<size_t>(std::max(order_ - 1, 0)));
  return interpolate(context.data() + context.size() - keep, keep, word);
}

uint32_t KnLm::id(std::string_view word) const {
  auto it = vocab_.find(std::string(word));
  return it == vocab_.end() ? kUnk : it->second;
}

std::pair<double, uint64_t> KnLm::log10_prob(std::string_view text) const {
  ANVIL_CHECK(finished_, "KnLm::log10_prob before finish()");
  double lp = 0;
  uint64_t n = 0;
  std::vector<uint32_t> ids;
  const size_t max_hist = static_cast<size_t>(std::max(order_ - 1, 0));
  for_each_line(text, [&](std::string_view line) {
    const std::string simple = simplify_for_minhash(line);
    const auto words = words_of(simple);
    if (words.empty()) return;
    ids.assign(1, kBos);
    for (auto w : words) ids.push_back(id(w));
    ids.push_back(kEos);
    for (size_t j = 1; j < ids.size(); ++j) {
      const size_t h = std::min(j, max_hist);
      lp += std::log10(interpolate(ids.data() + j - h, h, ids[j]));
      ++n;
    }
  });
  return {lp, n};
}

double KnLm::perplexity(std::string_view text) const {
  const auto [lp, n] = log10_prob(text);
  return n == 0 ? 0.0 : std::pow(10.0, -lp / static_cast<double>(n));
}

}  // namespace anvil::data
