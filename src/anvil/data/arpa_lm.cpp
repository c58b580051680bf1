// ARPA reading and backoff scoring (arpa_lm.h). The parser is a line-by-line state machine over
// \data\ → \1-grams: … \N-grams: → \end\; every count it allocates for is first checked against the
// size of the text, so a corrupt header cannot ask for more memory than the file could describe.
#include "anvil/data/arpa_lm.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include <xxhash.h>

#include "anvil/data/kn_lm.h"
#include "anvil/data/reader.h"

namespace anvil::data {
namespace {

// The shortest possible n-gram line ("-1 a\n") has 5 bytes; a count above size / kMinLineBytes is a lie.
constexpr uint64_t kMinLineBytes = 5;

uint64_t gram_key(const uint32_t* ids, size_t n) {
  const uint64_t k = XXH3_64bits(ids, n * sizeof(uint32_t));
  return k == 0 ? 1 : k;
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// A finite number in s (all of it), as float.
bool parse_float(std::string_view s, float* out) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return false;
  *out = static_cast<float>(v);
  return std::isfinite(*out);
}

bool parse_u64(std::string_view s, uint64_t* out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

void ArpaLm::Table::reserve(uint64_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  slots.assign(cap, Slot{});
}

ArpaLm::Slot* ArpaLm::Table::insert(uint64_t key, bool* added) {
  const size_t mask = slots.size() - 1;
  for (size_t j = key & mask;; j = (j + 1) & mask) {
    if (slots[j].key == key) {
      *added = false;
      return &slots[j];
    }
    if (slots[j].key == 0) {
      slots[j].key = key;
      *added = true;
      return &slots[j];
    }
  }
}

const ArpaLm::Slot* ArpaLm::Table::find(uint64_t key) const {
  const size_t mask = slots.size() - 1;
  for (size_t j = key & mask;; j = (j + 1) & mask) {
    if (slots[j].key == key) return &slots[j];
    if (slots[j].key == 0) return nullptr;
  }
}

class ArpaLm::Parser {
 public:
  Parser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  Status run(ArpaLm& lm) {
    std::string_view line;
    if (!next_nonblank(line)) return error("empty file (expected '\\data\\')");
    if (trim(line) != "\\data\\") return error("expected '\\data\\', found '{}'", clip(line));
    ANVIL_RETURN_IF_ERROR(read_counts(lm, line));
    for (size_t n = 1; n <= lm.counts_.size(); ++n) {
      const std::string header = fmt::format("\\{}-grams:", n);
      if (n > 1 && !next_nonblank(line)) return error("truncated: expected '{}'", header);
      if (trim(line) != header) return error("unknown or misplaced section '{}' (expected '{}')", clip(line), header);
      ANVIL_RETURN_IF_ERROR(read_section(lm, n));
    }
    if (!next_nonblank(line)) return error("truncated: expected '\\end\\'");
    if (trim(line) != "\\end\\") {
      return error("unknown section or extra entry '{}' (expected '\\end\\' after {} orders)", clip(line),
                   lm.counts_.size());
    }
    return finish(lm);
  }

 private:
  template <typename... Args>
  Status error(fmt::format_string<Args...> f, Args&&... args) const {
    return invalid_argument("[lm.arpa] '{}':{}: {}", name_, line_no_, fmt::format(f, std::forward<Args>(args)...));
  }
  static std::string clip(std::string_view s) {
    constexpr size_t kShow = 60;
    return s.size() <= kShow ? std::string(s) : std::string(s.substr(0, kShow)) + "…";
  }

  bool next_line(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++line_no_;
    return true;
  }
  bool next_nonblank(std::string_view& line) {
    while (next_line(line)) {
      if (!is_blank(line)) return true;
    }
    return false;
  }

  // "ngram N=C" lines, N = 1, 2, … in order; stops at (and leaves in `line`) the first line starting
  // with '\'.
  Status read_counts(ArpaLm& lm, std::string_view& line) {
    uint64_t total = 0;
    bool at_section = false;
    while (next_line(line)) {
      const std::string_view t = trim(line);
      if (t.empty()) continue;
      if (t.front() == '\\') {
        at_section = true;
        break;
      }
      if (!t.starts_with("ngram ")) return error("expected 'ngram N=count' in \\data\\, found '{}'", clip(t));
      const std::string_view kv = trim(t.substr(6));
      const size_t eq = kv.find('=');
      uint64_t n = 0, count = 0;
      if (eq == std::string_view::npos || !parse_u64(trim(kv.substr(0, eq)), &n) ||
          !parse_u64(trim(kv.substr(eq + 1)), &count)) {
        return error("bad count line '{}' (expected 'ngram N=count')", clip(t));
      }
      if (n != lm.counts_.size() + 1) return error("'ngram {}=' out of order (expected order {})", n, lm.counts_.size() + 1);
      if (n > static_cast<uint64_t>(kMaxOrder)) return error("order {} is above the supported {}", n, kMaxOrder);
      total += count;
      if (count > text_.size() / kMinLineBytes || total > text_.size() / kMinLineBytes) {
        return error("'ngram {}={}' cannot fit in a file of {} bytes", n, count, text_.size());
      }
      if (n == 1 && count == 0) return error("'ngram 1=0': a model needs unigrams");
      lm.counts_.push_back(count);
    }
    if (!at_section) return error("truncated: \\data\\ is not followed by '\\1-grams:'");
    if (lm.counts_.empty()) return error("\\data\\ lists no 'ngram N=count' line");
    lm.uni_log10_p_.reserve(lm.counts_[0]);
    lm.uni_log10_backoff_.reserve(lm.counts_[0]);
    lm.words_.reserve(lm.counts_[0]);
    lm.tables_.resize(lm.counts_.size() - 1);
    for (size_t n = 2; n <= lm.counts_.size(); ++n) lm.tables_[n - 2].reserve(lm.counts_[n - 1]);
    return ok_status();
  }

  Status read_section(ArpaLm& lm, size_t n) {
    const size_t n_orders = lm.counts_.size();
    const uint64_t want = lm.counts_[n - 1];
    std::array<std::string_view, kMaxOrder + 3> tok;
    std::array<uint32_t, kMaxOrder> ids{};
    std::string_view line;
    for (uint64_t i = 0; i < want; ++i) {
      if (!next_line(line) || is_blank(line) || trim(line).front() == '\\') {
        return error("\\{}-grams: has {} entries, \\data\\ says {}", n, i, want);
      }
      size_t n_tok = 0;
      for (size_t p = 0; p < line.size();) {
        while (p < line.size() && (line[p] == ' ' || line[p] == '\t' || line[p] == '\r')) ++p;
        if (p == line.size()) break;
        const size_t b = p;
        while (p < line.size() && line[p] != ' ' && line[p] != '\t' && line[p] != '\r') ++p;
        if (n_tok == tok.size()) return error("too many fields for a {}-gram: '{}'", n, clip(line));
        tok[n_tok++] = line.substr(b, p - b);
      }
      const size_t max_tok = n + (n < n_orders ? 2 : 1);
      if (n_tok < n + 1 || n_tok > max_tok) {
        return error("a {}-gram line has {} fields, expected {}: '{}'", n, n_tok,
                     n < n_orders ? fmt::format("{} or {}", n + 1, n + 2) : std::to_string(n + 1), clip(line));
      }
      float lp = 0, bo = 0;
      if (!parse_float(tok[0], &lp)) return error("log10 probability '{}' is not a finite number", clip(tok[0]));
      if (lp > 0) return error("log10 probability {} is above 0", tok[0]);
      if (n_tok == n + 2 && !parse_float(tok[n + 1], &bo)) {
        return error("log10 backoff '{}' is not a finite number", clip(tok[n + 1]));
      }
      if (n == 1) {
        const std::string w(tok[1]);
        if (!lm.vocab_.emplace(w, static_cast<uint32_t>(lm.words_.size())).second) {
          return error("1-gram '{}' appears twice", clip(w));
        }
        lm.words_.push_back(w);
        lm.uni_log10_p_.push_back(lp);
        lm.uni_log10_backoff_.push_back(bo);
        continue;
      }
      for (size_t k = 0; k < n; ++k) {
        auto it = lm.vocab_.find(tok[1 + k]);
        if (it == lm.vocab_.end()) return error("word '{}' of a {}-gram is not a 1-gram", clip(tok[1 + k]), n);
        ids[k] = it->second;
      }
      bool added = false;
      Slot* s = lm.tables_[n - 2].insert(gram_key(ids.data(), n), &added);
      if (!added) return error("{}-gram '{}' appears twice", n, clip(trim(line)));
      s->log10_p = lp, s->log10_backoff = bo;
    }
    return ok_status();
  }

  Status finish(ArpaLm& lm) {
    auto find = [&](const char* w, uint32_t* id) {
      auto it = lm.vocab_.find(std::string_view(w));
      if (it == lm.vocab_.end()) return false;
      *id = it->second;
      return true;
    };
    if (!find("<s>", &lm.bos_)) return error("the model has no <s> 1-gram");
    if (!find("</s>", &lm.eos_)) return error("the model has no </s> 1-gram");
    lm.has_unk_ = find("<unk>", &lm.unk_);
    if (!lm.has_unk_) {
      lm.unk_ = static_cast<uint32_t>(lm.words_.size());
      lm.vocab_.emplace("<unk>", lm.unk_);
      lm.words_.emplace_back("<unk>");
      lm.uni_log10_p_.push_back(kMissingUnkLog10Prob);
      lm.uni_log10_backoff_.push_back(0);
    }
    return ok_status();
  }

  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
  uint64_t line_no_ = 0;
};

Result<ArpaLm> ArpaLm::parse(std::string_view text, const std::string& name) {
  ArpaLm lm;
  Parser p(text, name);
  ANVIL_RETURN_IF_ERROR(p.run(lm));
  return lm;
}

Result<ArpaLm> ArpaLm::load(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(auto src, ByteSource::open(path));
  std::string text;
  constexpr size_t kChunk = size_t{1} << 20;
  for (;;) {
    const size_t at = text.size();
    text.resize(at + kChunk);
    ANVIL_ASSIGN_OR_RETURN(size_t n, src->read(text.data() + at, kChunk));
    text.resize(at + n);
    if (n == 0) break;
  }
  return parse(text, path);
}

uint32_t ArpaLm::id(std::string_view word) const {
  auto it = vocab_.find(word);
  return it == vocab_.end() ? unk_ : it->second;
}

size_t ArpaLm::memory_bytes() const {
  size_t b = (uni_log10_p_.capacity() + uni_log10_backoff_.capacity()) * sizeof(float);
  for (const auto& w : words_) b += w.capacity() + sizeof(std::string) + 2 * sizeof(void*) + sizeof(uint32_t);
  for (const auto& t : tables_) b += t.slots.capacity() * sizeof(Slot);
  return b;
}

double ArpaLm::log10_prob(const uint32_t* context, size_t n_context, uint32_t word) const {
  const size_t max_hist = counts_.size() - 1;
  const size_t n_hist = std::min(n_context, max_hist);
  uint32_t g[kMaxOrder];
  std::copy(context + n_context - n_hist, context + n_context, g);
  double acc = 0;
  // From the longest history down: a listed n-gram ends the search; otherwise add its context's backoff.
  for (size_t k = n_hist; k > 0; --k) {
    const uint32_t* h = g + (n_hist - k);  // the last k words of the history
    uint32_t gram[kMaxOrder];
    std::copy(h, h + k, gram);
    gram[k] = word;
    if (const Slot* s = tables_[k - 1].find(gram_key(gram, k + 1))) return acc + s->log10_p;
    if (k == 1) {
      acc += uni_log10_backoff_[h[0]];
    } else if (const Slot* c = tables_[k - 2].find(gram_key(h, k))) {
      acc += c->log10_backoff;
    }
  }
  return acc + uni_log10_p_[word];
}

std::pair<double, uint64_t> ArpaLm::log10_prob(std::string_view text) const {
  double lp = 0;
  uint64_t n = 0;
  std::vector<uint32_t> ids;
  std::string simple;
  std::vector<std::string_view> words;
  const size_t max_hist = counts_.size() - 1;
  for_each_line(text, [&](std::string_view line) {
    lm_words(line, simple, words);
    if (words.empty()) return;
    ids.assign(1, bos_);
    for (auto w : words) ids.push_back(id(w));
    ids.push_back(eos_);
    for (size_t j = 1; j < ids.size(); ++j) {
      const size_t h = std::min(j, max_hist);
      lp += log10_prob(ids.data() + j - h, h, ids[j]);
      ++n;
    }
  });
  return {lp, n};
}

double ArpaLm::perplexity(std::string_view text) const {
  const auto [lp, n] = log10_prob(text);
  return n == 0 ? 0.0 : std::pow(10.0, -lp / static_cast<double>(n));
}

}  // namespace anvil::data
