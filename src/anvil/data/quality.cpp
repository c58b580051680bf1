// Gopher quality / repetition and C4 filters (quality.h), written after datatrove's
// gopher_quality_filter.py, gopher_repetition_filter.py and c4_filters.py; rule names match theirs.
#include "anvil/data/quality.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <utf8proc.h>
#include <xxhash.h>

namespace anvil::data {
namespace {

bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && ws(s[i])) ++i;
    const size_t b = i;
    while (i < s.size() && !ws(s[i])) ++i;
    if (i > b) w.push_back(s.substr(b, i - b));
  }
  return w;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on runs of at least `min_run` newlines (after stripping), like re.split(r"\n{k,}", text.strip()).
std::vector<std::string_view> split_newlines(std::string_view s, size_t min_run) {
  s = strip(s);
  std::vector<std::string_view> out;
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
  return out;
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
      if (!std::ispunct(c)) *all_symbol = false;
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

// (number of elements seen before, bytes of those elements) — datatrove find_duplicates.
std::pair<size_t, size_t> find_duplicates(const std::vector<std::string_view>& xs) {
  std::unordered_set<std::string_view> seen;
  size_t n = 0, chars = 0;
  for (auto x : xs) {
    if (!seen.insert(x).second) ++n, chars += x.size();
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

uint64_t ngram_hash(const std::vector<uint64_t>& word_hash, size_t i, size_t n) {
  return XXH3_64bits(word_hash.data() + i, n * sizeof(uint64_t));
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  return out;
}

std::string remove_citations(std::string_view line) {
  std::string out;
  out.reserve(line.size());
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
  return out;
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
  const auto words = split_words(text);
  const size_t n_words = words.size();
  if (n_words == 0) return "gopher_short_doc";
  size_t n_non_symbol = 0, non_symbol_bytes = 0, n_alpha = 0;
  std::unordered_set<std::string_view> stops;
  for (auto w : words) {
    bool has_alpha = false, all_symbol = true;
    classify_word(w, &has_alpha, &all_symbol);
    if (!all_symbol) ++n_non_symbol, non_symbol_bytes += w.size();
    n_alpha += has_alpha;
    if (stops.size() < opt.min_stop_words) {
      for (const auto& s : opt.stop_words) {
        if (w == s) stops.insert(w);
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
  const auto paragraphs = split_newlines(text, 2);
  auto [n_dup_para, dup_para_chars] = find_duplicates(paragraphs);
  if (static_cast<double>(n_dup_para) / static_cast<double>(paragraphs.size()) > opt.dup_para_frac) {
    return "dup_para_frac";
  }
  if (static_cast<double>(dup_para_chars) / len > opt.dup_para_char_frac) return "dup_para_char_frac";
  const auto lines = split_newlines(text, 1);
  auto [n_dup_line, dup_line_chars] = find_duplicates(lines);
  if (static_cast<double>(n_dup_line) / static_cast<double>(lines.size()) > opt.dup_line_frac) return "dup_line_frac";
  if (static_cast<double>(dup_line_chars) / len > opt.dup_line_char_frac) return "dup_line_char_frac";

  const auto words = split_words(text);
  std::vector<uint64_t> word_hash(words.size());
  std::vector<size_t> prefix_bytes(words.size() + 1, 0);
  for (size_t i = 0; i < words.size(); ++i) {
    word_hash[i] = XXH3_64bits(words[i].data(), words[i].size());
    prefix_bytes[i + 1] = prefix_bytes[i] + words[i].size();
  }
  // Top n-gram: sort (hash, bytes) and take the longest run's bytes × count.
  std::vector<std::pair<uint64_t, size_t>> grams;
  for (const auto& [n_raw, threshold] : opt.top_n_grams) {
    const size_t n = static_cast<size_t>(n_raw);
    if (words.size() < n) continue;
    grams.clear();
    for (size_t i = 0; i + n <= words.size(); ++i) {
      // " ".join(words[i:i+n]) has the words' bytes plus n-1 spaces.
      grams.emplace_back(ngram_hash(word_hash, i, n), prefix_bytes[i + n] - prefix_bytes[i] + n - 1);
    }
    std::sort(grams.begin(), grams.end());
    size_t best = 0;
    for (size_t i = 0; i < grams.size();) {
      size_t j = i;
      while (j < grams.size() && grams[j].first == grams[i].first) ++j;
      best = std::max(best, grams[i].second * (j - i));
      i = j;
    }
    if (static_cast<double>(best) / len > threshold) return "top_" + std::to_string(n) + "_gram";
  }
  FlatSet64 unique;
  for (const auto& [n_raw, threshold] : opt.dup_n_grams) {
    const size_t n = static_cast<size_t>(n_raw);
    if (words.size() < n) continue;
    unique.reset(words.size());
    size_t repeated = 0;
    for (size_t i = 0; i + n <= words.size();) {
      if (!unique.insert(ngram_hash(word_hash, i, n))) {
        repeated += prefix_bytes[i + n] - prefix_bytes[i];  // "".join(words[i:i+n])
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
  std::string kept;
  size_t n_sentences = 0;
  size_t start = 0;
  const std::string_view all(text);
  while (start <= all.size()) {
    size_t end = all.find('\n', start);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view raw = strip(all.substr(start, end - start));
    start = end + 1;
    const auto words = split_words(raw);
    bool too_long = false;
    for (auto w : words) too_long |= w.size() > opt.max_word_length;
    if (too_long) continue;
    const std::string line = opt.remove_citations ? remove_citations(raw) : std::string(raw);
    if (opt.filter_no_terminal_punct) {
      const char last = line.empty() ? '\0' : line.back();
      const bool terminal = last == '.' || last == '?' || last == '!' || last == '"' || last == '\'';
      if (!terminal || std::string_view(line).ends_with("...")) continue;
    }
    if (words.size() < opt.min_words_per_line) continue;
    const std::string low = lower_ascii(line);
    if (opt.filter_lorem_ipsum && low.find("lorem ipsum") != std::string::npos) return "c4_lorem_ipsum";
    if (opt.filter_javascript && low.find("javascript") != std::string::npos) continue;
    if (opt.filter_curly_bracket && line.find('{') != std::string::npos) return "c4_curly_bracket";
    if (opt.filter_policy) {
      bool policy = false;
      for (const char* p : kPolicy) policy |= low.find(p) != std::string::npos;
      if (policy) continue;
    }
    n_sentences += count_sentences(line);
    if (!kept.empty()) kept += '\n';
    kept += line;
  }
  if (n_sentences < opt.min_num_sentences) return "c4_too_few_sentences";
  text = std::string(strip(kept));
  return std::nullopt;
}

}  // namespace anvil::data
