// Modified Kneser-Ney estimation and scoring (kn_lm.h). N-grams are keyed by xxh3-64 of their word
// ids; each entry also keeps its context and suffix keys, which is all estimation needs.
#include "anvil/data/kn_lm.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <xxhash.h>

#include "anvil/base/check.h"
#include "anvil/base/file.h"
#include "anvil/data/dedup.h"

namespace anvil::data {
namespace {

uint64_t key(const uint32_t* ids, size_t n) { return XXH3_64bits(ids, n * sizeof(uint32_t)); }

}  // namespace

void lm_words(std::string_view line, std::string& simple, std::vector<std::string_view>& words) {
  simple = simplify_for_minhash(line);
  words.clear();
  size_t start = 0;
  while (start < simple.size()) {
    size_t end = simple.find(' ', start);
    if (end == std::string::npos) end = simple.size();
    if (end > start) words.emplace_back(simple.data() + start, end - start);
    start = end + 1;
  }
}

KnLm::KnLm(const KnOptions& opt) : opt_(opt), order_(opt.order) {
  for (const char* w : {"<unk>", "<s>", "</s>"}) {
    vocab_.emplace(w, static_cast<uint32_t>(words_.size()));
    words_.emplace_back(w);
  }
  grams_.resize(static_cast<size_t>(std::max(order_, 1)));
  gram_ids_.resize(grams_.size());
}

void KnLm::add_text(std::string_view text) {
  std::vector<uint32_t> ids;
  std::string simple;
  std::vector<std::string_view> words;
  for_each_line(text, [&](std::string_view line) {
    lm_words(line, simple, words);
    if (words.empty()) return;
    ++n_lines_;
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
          gram_ids_[n - 1].insert(gram_ids_[n - 1].end(), g, g + n);
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
  // p of every listed n-gram, lower orders first: its suffix is listed one order down, so each needs
  // two lookups (its context, its suffix) instead of interpolate()'s two per order.
  for (size_t n = 0; n < grams_.size(); ++n) {
    for (auto& [k, g] : grams_[n]) {
      double lower = 1.0 / static_cast<double>(n_predictable_);
      if (n > 0) {
        auto s = grams_[n - 1].find(g.suffix);
        ANVIL_CHECK(s != grams_[n - 1].end(), "KnLm::finish: the suffix of a {}-gram is not counted", n + 1);
        lower = s->second.prob;
      }
      const Context& c = contexts_[n].at(g.context);
      const auto& d = discounts_[n];
      const double discounted = std::max(g.adjusted - d[std::min<uint32_t>(g.adjusted, 3) - 1], 0.0);
      g.prob = static_cast<float>(c.sum == 0 ? lower : discounted / static_cast<double>(c.sum) + gamma(n + 1, c) * lower);
    }
  }
  finished_ = true;
  return ok_status();
}

double KnLm::gamma(size_t order, const Context& c) const {
  const auto& d = discounts_[order - 1];
  return (d[0] * static_cast<double>(c.n1) + d[1] * static_cast<double>(c.n2) + d[2] * static_cast<double>(c.n3p)) /
         static_cast<double>(c.sum);
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
    const double discounted = a == 0 ? 0.0 : std::max(a - d[std::min<uint32_t>(a, 3) - 1], 0.0);
    p = discounted / sum + gamma(n, c->second) * p;
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
  std::string simple;
  std::vector<std::string_view> words;
  const size_t max_hist = static_cast<size_t>(std::max(order_ - 1, 0));
  for_each_line(text, [&](std::string_view line) {
    lm_words(line, simple, words);
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

Status KnLm::write_arpa(const std::function<Status(std::string_view)>& sink) const {
  if (!finished_) return invalid_argument("[lm.write_arpa] the model is not estimated yet (call finish())");
  constexpr size_t kFlushBytes = size_t{1} << 20;
  constexpr float kBosLog10Prob = -99.0f;  // lmplz's value for <s>, which is never predicted
  std::string buf = "\\data\\\n";
  const size_t n_orders = grams_.size();
  const uint64_t n_unigrams = words_.size();
  for (size_t n = 1; n <= n_orders; ++n) {
    fmt::format_to(std::back_inserter(buf), "ngram {}={}\n", n, n == 1 ? n_unigrams : grams_[n - 1].size());
  }
  auto flush = [&](bool force) -> Status {
    if (buf.size() < kFlushBytes && !force) return ok_status();
    ANVIL_RETURN_IF_ERROR(sink(buf));
    buf.clear();
    return ok_status();
  };
  // One line: log10 p, the words, and log10 γ when the n-gram is a context of the next order.
  auto line = [&](size_t n, const uint32_t* ids, float log10_p) {
    fmt::format_to(std::back_inserter(buf), "{}\t", log10_p);
    for (size_t k = 0; k < n; ++k) {
      buf += words_[ids[k]];
      buf += k + 1 < n ? ' ' : '\t';
    }
    if (n < n_orders) {
      auto c = contexts_[n].find(key(ids, n));
      if (c != contexts_[n].end() && c->second.sum > 0) {
        fmt::format_to(std::back_inserter(buf), "{}", static_cast<float>(std::log10(gamma(n + 1, c->second))));
      } else {
        buf += '0';
      }
    } else {
      buf.pop_back();  // no backoff column at the highest order
    }
    buf += '\n';
  };
  buf += "\n\\1-grams:\n";
  for (uint32_t w = 0; w < n_unigrams; ++w) {
    line(1, &w, w == kBos ? kBosLog10Prob : static_cast<float>(std::log10(interpolate(nullptr, 0, w))));
    ANVIL_RETURN_IF_ERROR(flush(false));
  }
  std::vector<uint32_t> order;
  for (size_t n = 2; n <= n_orders; ++n) {
    fmt::format_to(std::back_inserter(buf), "\n\\{}-grams:\n", n);
    const uint32_t* all = gram_ids_[n - 1].data();
    order.resize(grams_[n - 1].size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::lexicographical_compare(all + a * n, all + a * n + n, all + b * n, all + b * n + n);
    });
    for (uint32_t i : order) {
      const uint32_t* ids = all + static_cast<size_t>(i) * n;
      line(n, ids, static_cast<float>(std::log10(grams_[n - 1].at(key(ids, n)).prob)));
      ANVIL_RETURN_IF_ERROR(flush(false));
    }
  }
  buf += "\n\\end\\\n";
  return flush(true);
}

Status KnLm::write_arpa_file(const std::string& path) const {
  AtomicFileWriter w;
  ANVIL_RETURN_IF_ERROR(w.open(path));
  ANVIL_RETURN_IF_ERROR(write_arpa([&](std::string_view s) { return w.write(s.data(), s.size()); }));
  return w.commit();
}

std::string KnLm::arpa_text() const {
  std::string out;
  const Status s = write_arpa([&](std::string_view piece) {
    out += piece;
    return ok_status();
  });
  ANVIL_CHECK(s.ok(), "KnLm::arpa_text: {}", s.to_string());
  return out;
}

}  // namespace anvil::data
