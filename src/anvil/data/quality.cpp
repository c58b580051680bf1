// Gopher quality / repetition and C4 filters (quality.h), written after datatrove's
// gopher_quality_filter.py, gopher_repetition_filter.py and c4_filters.py; rule names match theirs.
// Hot paths reuse per-thread buffers (no allocation per document once warm), count n-grams in flat
// hash tables, and build n-gram keys incrementally from word hashes.
#include "anvil/data/quality.h"

#include <algorithm>
#include <cstring>

#include <utf8proc.h>
#include <xxhash.h>

namespace anvil::data {
namespace {

bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Whitespace-separated words of s into w (cleared first; callers reuse it to avoid allocations).
void split_words(std::string_view s, std::vector<std::string_view>& w) {
  w.clear();
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && ws(s[i])) ++i;
    const size_t b = i;
    while (i < s.size() && !ws(s[i])) ++i;
    if (i > b) w.emplace_back(s.data() + b, i - b);
  }
}

// Per-thread buffers, so the filters allocate nothing per document once they are warm.
struct Scratch {
  std::vector<std::string_view> words, parts, line_words;
  std::vector<uint64_t> word_hash, grams;
  std::vector<size_t> prefix_bytes;
  std::string line, low;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// ispunct() of the "C" locale as a table: ! " # $ % & ' ( ) * + , - . / : ; < = > ? @ [ \ ] ^ _ ` { | } ~
constexpr bool is_ascii_punct(unsigned char c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on runs of at least `min_run` newlines (after stripping), like re.split(r"\n{k,}", text.strip()).
void split_newlines(std::string_view s, size_t min_run, std::vector<std::string_view>& out) {
  s = strip(s);
  out.clear();
  size_t start = 0, i = 0;
  while (i < s.size()) {
    if (s[i] != '\n') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] == '\n') ++j;
    if (j - i >= min_run) {
      out.push_back(s.substr(start, i - start));
      start = j;
    }
    i = j;
  }
  out.push_back(s.substr(start));
}

// Letters (any script) and whether a word is made only of punctuation/symbols.
void classify_word(std::string_view w, bool* has_alpha, bool* all_symbol) {
  *has_alpha = false;
  *all_symbol = true;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(w.data());
  for (size_t i = 0; i < w.size();) {
    const unsigned char c = static_cast<unsigned char>(w[i]);
    if (c < 0x80) {
      if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') *has_alpha = true;
      if (!is_ascii_punct(c)) *all_symbol = false;
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(w.size() - i), &cp);
    i += n > 0 ? static_cast<size_t>(n) : 1;
    const auto cat = n > 0 ? utf8proc_category(cp) : UTF8PROC_CATEGORY_CN;
    if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) *has_alpha = true;
    if (!(cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO)) *all_symbol = false;
  }
}

size_t count_sub(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

// (number of elements seen before, bytes of those elements) — datatrove find_duplicates. A flat
// table of (hash, element); elements are compared in full when hashes match.
std::pair<size_t, size_t> find_duplicates(const std::vector<std::string_view>& xs) {
  thread_local std::vector<std::pair<uint64_t, std::string_view>> slots;
  size_t cap = 16;
  while (cap < 2 * xs.size()) cap *= 2;
  slots.assign(cap, {0, std::string_view()});
  const size_t mask = cap - 1;
  size_t n = 0, chars = 0;
  for (auto x : xs) {
    uint64_t h = XXH3_64bits(x.data(), x.size());
    h = h ? h : 1;  // 0 marks an empty slot
    for (size_t j = h & mask;; j = (j + 1) & mask) {
      if (slots[j].first == 0) {
        slots[j] = {h, x};
        break;
      }
      if (slots[j].first == h && slots[j].second == x) {
        ++n, chars += x.size();
        break;
      }
    }
  }
  return {n, chars};
}

// Open-addressing set of 64-bit hashes for one document (0 is remapped, so it can mark empty slots).
class FlatSet64 {
 public:
  void reset(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, 0);
  }
  bool insert(uint64_t h) {  // true if new
    h = h ? h : 1;
    const size_t mask = slots_.size() - 1;
    for (size_t j = h & mask;; j = (j + 1) & mask) {
      if (slots_[j] == h) return false;
      if (slots_[j] == 0) {
        slots_[j] = h;
        return true;
      }
    }
  }

 private:
  std::vector<uint64_t> slots_;
};

// Counts per 64-bit key (open addressing; 0 is remapped like FlatSet64).
class FlatCount64 {
 public:
  void reset(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, {0, 0});
  }
  uint64_t add(uint64_t h) {  // the count after adding
    h = h ? h : 1;
    const size_t mask = slots_.size() - 1;
    for (size_t j = h & mask;; j = (j + 1) & mask) {
      if (slots_[j].first == h) return ++slots_[j].second;
      if (slots_[j].first == 0) {
        slots_[j] = {h, 1};
        return 1;
      }
    }
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> slots_;
};

// Hash of an n-gram from the hash of its first n-1 words and the hash of its last word: a bijective
// multiply then murmur3's finaliser, so equal word sequences (and, up to 64-bit collisions, only
// those) get equal keys.
uint64_t extend_hash(uint64_t prefix, uint64_t word) {
  uint64_t h = prefix * 0x9E3779B97F4A7C15ull ^ word;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

// Removes "[12]", "[edit]" and "[citation needed]" from line into out.
void remove_citations(std::string_view line, std::string& out) {
  out.clear();
  for (size_t i = 0; i < line.size();) {
    if (line[i] == '[') {
      size_t j = i + 1;
      while (j < line.size() && line[j] >= '0' && line[j] <= '9') ++j;
      size_t end = 0;
      if (j < line.size() && line[j] == ']') end = j + 1;
      else if (line.substr(i).starts_with("[edit]")) end = i + 6;
      else if (line.substr(i).starts_with("[citation needed]")) end = i + 17;
      if (end) {
        i = end;
        continue;
      }
    }
    out += line[i++];
  }
}

size_t count_sentences(std::string_view line) {
  size_t n = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if ((c == '.' || c == '!' || c == '?') && (i + 1 == line.size() || ws(line[i + 1]))) ++n;
  }
  return std::max<size_t>(n, 1);
}

}  // namespace

std::optional<std::string> gopher_quality(std::string_view text, const GopherQualityOptions& opt) {
  std::vector<std::string_view>& words = scratch().words;
  split_words(text, words);
  const size_t n_words = words.size();
  if (n_words == 0) return "gopher_short_doc";
  size_t n_non_symbol = 0, non_symbol_bytes = 0, n_alpha = 0;
  thread_local std::vector<std::string_view> stops;  // distinct stop words seen, up to min_stop_words
  stops.clear();
  for (auto w : words) {
    bool has_alpha = false, all_symbol = true;
    classify_word(w, &has_alpha, &all_symbol);
    if (!all_symbol) ++n_non_symbol, non_symbol_bytes += w.size();
    n_alpha += has_alpha;
    if (stops.size() < opt.min_stop_words) {
      for (const auto& s : opt.stop_words) {
        if (w == s && std::find(stops.begin(), stops.end(), w) == stops.end()) stops.push_back(w);
      }
    }
  }
  if (n_non_symbol < opt.min_doc_words) return "gopher_short_doc";
  if (n_non_symbol > opt.max_doc_words) return "gopher_long_doc";
  const double avg = static_cast<double>(non_symbol_bytes) / static_cast<double>(n_non_symbol);
  if (avg < opt.min_avg_word_length) return "gopher_below_avg_threshold";
  if (avg > opt.max_avg_word_length) return "gopher_above_avg_threshold";
  const double nw = static_cast<double>(n_words);
  if (static_cast<double>(count_sub(text, "#")) / nw > opt.max_symbol_word_ratio) return "gopher_too_many_hashes";
  if (static_cast<double>(count_sub(text, "...") + count_sub(text, "…")) / nw > opt.max_symbol_word_ratio) {
    return "gopher_too_many_ellipsis";
  }
  size_t n_lines = 0, n_bullet = 0, n_ellipsis = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    ++n_lines;
    const std::string_view l = strip(line);
    n_bullet += l.starts_with("•") || l.starts_with("-");
    n_ellipsis += l.ends_with("...") || l.ends_with("…");
    start = end + 1;
  }
  if (static_cast<double>(n_bullet) / static_cast<double>(n_lines) > opt.max_bullet_lines_ratio) {
    return "gopher_too_many_bullets";
  }
  if (static_cast<double>(n_ellipsis) / static_cast<double>(n_lines) > opt.max_ellipsis_lines_ratio) {
    return "gopher_too_many_end_ellipsis";
  }
  if (static_cast<double>(n_alpha) / nw < opt.min_alpha_words_ratio) return "gopher_below_alpha_threshold";
  if (stops.size() < opt.min_stop_words) return "gopher_enough_stop_words";
  return std::nullopt;
}

std::optional<std::string> gopher_repetition(std::string_view text, const GopherRepetitionOptions& opt) {
  const double len = static_cast<double>(text.size());
  if (len == 0) return std::nullopt;
  Scratch& s = scratch();
  split_newlines(text, 2, s.parts);
  auto [n_dup_para, dup_para_chars] = find_duplicates(s.parts);
  if (static_cast<double>(n_dup_para) / static_cast<double>(s.parts.size()) > opt.dup_para_frac) {
    return "dup_para_frac";
  }
  if (static_cast<double>(dup_para_chars) / len > opt.dup_para_char_frac) return "dup_para_char_frac";
  split_newlines(text, 1, s.parts);
  auto [n_dup_line, dup_line_chars] = find_duplicates(s.parts);
  if (static_cast<double>(n_dup_line) / static_cast<double>(s.parts.size()) > opt.dup_line_frac) return "dup_line_frac";
  if (static_cast<double>(dup_line_chars) / len > opt.dup_line_char_frac) return "dup_line_char_frac";

  split_words(text, s.words);
  const size_t n_words = s.words.size();
  s.word_hash.resize(n_words);
  s.prefix_bytes.assign(n_words + 1, 0);
  for (size_t i = 0; i < n_words; ++i) {
    s.word_hash[i] = XXH3_64bits(s.words[i].data(), s.words[i].size());
    s.prefix_bytes[i + 1] = s.prefix_bytes[i] + s.words[i].size();
  }
  // Keys of every n-gram for n = 1..max_n, row n-1 of `grams`, each row extended from the one before.
  size_t max_n = 0;
  for (const auto& lists : {&opt.top_n_grams, &opt.dup_n_grams}) {
    for (const auto& [n, threshold] : *lists) {
      if (n >= 1 && static_cast<size_t>(n) <= n_words) max_n = std::max(max_n, static_cast<size_t>(n));
    }
  }
  s.grams.resize(max_n * n_words);
  if (max_n > 0) std::copy(s.word_hash.begin(), s.word_hash.end(), s.grams.begin());
  for (size_t n = 2; n <= max_n; ++n) {
    const uint64_t* prev = s.grams.data() + (n - 2) * n_words;
    uint64_t* cur = s.grams.data() + (n - 1) * n_words;
    for (size_t i = 0; i + n <= n_words; ++i) cur[i] = extend_hash(prev[i], s.word_hash[i + n - 1]);
  }
  const size_t* prefix = s.prefix_bytes.data();
  // Top n-gram: the most frequent n-gram's bytes × count (" ".join(words[i:i+n]) has n-1 spaces).
  thread_local FlatCount64 counts;
  for (const auto& [n_raw, threshold] : opt.top_n_grams) {
    const size_t n = static_cast<size_t>(n_raw);
    if (n_raw < 1 || n_words < n) continue;
    const uint64_t* g = s.grams.data() + (n - 1) * n_words;
    counts.reset(n_words - n + 1);
    size_t best = 0;
    for (size_t i = 0; i + n <= n_words; ++i) {
      const uint64_t c = counts.add(g[i]);
      best = std::max(best, (prefix[i + n] - prefix[i] + n - 1) * c);
    }
    if (static_cast<double>(best) / len > threshold) return "top_" + std::to_string(n) + "_gram";
  }
  thread_local FlatSet64 unique;
  for (const auto& [n_raw, threshold] : opt.dup_n_grams) {
    const size_t n = static_cast<size_t>(n_raw);
    if (n_raw < 1 || n_words < n) continue;
    const uint64_t* g = s.grams.data() + (n - 1) * n_words;
    unique.reset(n_words);
    size_t repeated = 0;
    for (size_t i = 0; i + n <= n_words;) {
      if (!unique.insert(g[i])) {
        repeated += prefix[i + n] - prefix[i];  // "".join(words[i:i+n])
        i += n;
      } else {
        ++i;
      }
    }
    if (static_cast<double>(repeated) / len > threshold) return "duplicated_" + std::to_string(n) + "_n_grams";
  }
  return std::nullopt;
}

std::optional<std::string> c4_filter(std::string& text, const C4Options& opt) {
  static constexpr const char* kPolicy[] = {"terms of use", "privacy policy", "cookie policy",
                                            "uses cookies", "use of cookies", "use cookies"};
  Scratch& s = scratch();
  std::string kept;
  kept.reserve(text.size());
  size_t n_sentences = 0;
  size_t start = 0;
  const std::string_view all(text);
  while (start <= all.size()) {
    size_t end = all.find('\n', start);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view raw = strip(all.substr(start, end - start));
    start = end + 1;
    split_words(raw, s.line_words);
    bool too_long = false;
    for (auto w : s.line_words) too_long |= w.size() > opt.max_word_length;
    if (too_long) continue;
    std::string_view line = raw;
    if (opt.remove_citations && raw.find('[') != std::string_view::npos) {
      remove_citations(raw, s.line);
      line = s.line;
    }
    if (opt.filter_no_terminal_punct) {
      const char last = line.empty() ? '\0' : line.back();
      const bool terminal = last == '.' || last == '?' || last == '!' || last == '"' || last == '\'';
      if (!terminal || line.ends_with("...")) continue;
    }
    if (s.line_words.size() < opt.min_words_per_line) continue;
    s.low.assign(line);
    for (char& ch : s.low) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch | 0x20);
    }
    const std::string_view low = s.low;
    if (opt.filter_lorem_ipsum && low.find("lorem ipsum") != std::string_view::npos) return "c4_lorem_ipsum";
    if (opt.filter_javascript && low.find("javascript") != std::string_view::npos) continue;
    if (opt.filter_curly_bracket && line.find('{') != std::string_view::npos) return "c4_curly_bracket";
    if (opt.filter_policy) {
      bool policy = false;
      for (const char* p : kPolicy) policy |= low.find(p) != std::string_view::npos;
      if (policy) continue;
    }
    n_sentences += count_sentences(line);
    if (!kept.empty()) kept += '\n';
    kept += line;
  }
  if (n_sentences < opt.min_num_sentences) return "c4_too_few_sentences";
  const std::string_view stripped = strip(kept);
  if (stripped.size() == kept.size()) {
    text.swap(kept);
  } else {
    text.assign(stripped);
  }
  return std::nullopt;
}

}  // namespace anvil::data
