// Pre-tokenization without a regex engine: hand-coded matchers equal to the GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and the cl100k regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (leftmost-first alternation, greedy with backtracking, as tiktoken / HF evaluate them). Input is
// bytes: an invalid UTF-8 byte is one character of no class. Pieces tile the input exactly.
#pragma once

#include <cstdint>
#include <string_view>

#include "anvil/tokenizer/unicode.h"

namespace anvil::tok {

enum class Pattern { kGpt2, kCl100k };
enum class DigitSplit { kNone, kIndividual };  // kIndividual: every \p{N} char its own piece (HF Digits)

struct PreTokenizerConfig {
  Pattern pattern = Pattern::kGpt2;
  DigitSplit digits = DigitSplit::kNone;
};

const char* pattern_name(Pattern p);       // "gpt2" | "cl100k"
const char* pattern_regex(Pattern p);      // the regex above, as HF tokenizer.json spells it

namespace detail {

inline constexpr uint8_t kAsciiClass[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 12, 4, 4, 12, 0, 0,  // \t \n \v \f \r
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // space
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,  // digits
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

// Class of the character at s[i]; sets len to its byte length.
inline uint8_t class_at(const uint8_t* s, size_t i, size_t n, int& len) {
  if (s[i] < 0x80) { len = 1; return kAsciiClass[s[i]]; }
  uint32_t cp;
  len = decode_utf8(s, i, n, cp);
  return cp == 0xFFFFFFFFu ? 0 : char_class(cp);
}

// Advances i over characters whose class satisfies pred.
template <typename Pred>
inline size_t skip_while(const uint8_t* s, size_t i, size_t n, Pred pred) {
  while (i < n) {
    int len;
    if (!pred(class_at(s, i, n, len))) break;
    i += len;
  }
  return i;
}

inline bool is_other(uint8_t k) { return (k & (kClassLetter | kClassNumber | kClassSpace)) == 0; }

inline size_t contraction_len(const uint8_t* s, size_t i, size_t n, bool any_case) {
  if (s[i] != '\'' || i + 1 >= n) return 0;
  auto lower = [&](uint8_t c) -> uint8_t { return any_case && c >= 'A' && c <= 'Z' ? c + 32 : c; };
  uint8_t a = lower(s[i + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  uint8_t b = lower(s[i + 2]);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ from i (s[i] is whitespace): the run, minus its last char if a non-space follows.
inline size_t whitespace_end(const uint8_t* s, size_t i, size_t n) {
  size_t j = i, last = i;
  while (j < n) {
    int len;
    if (!(class_at(s, j, n, len) & kClassSpace)) break;
    last = j;
    j += len;
  }
  if (j == n || last == i) return j;
  return last;
}

inline size_t gpt2_next(const uint8_t* s, size_t i, size_t n) {
  if (size_t c = contraction_len(s, i, n, false)) return i + c;
  int len;
  uint8_t k = class_at(s, i, n, len);
  size_t start = i;
  if (s[i] == ' ' && i + 1 < n) {
    int len2;
    uint8_t k2 = class_at(s, i + 1, n, len2);
    if (!(k2 & kClassSpace)) { k = k2; start = i + 1; len = len2; }
  }
  if (k & kClassLetter) return skip_while(s, start + len, n, [](uint8_t c) { return c & kClassLetter; });
  if (k & kClassNumber) return skip_while(s, start + len, n, [](uint8_t c) { return c & kClassNumber; });
  if (!(k & kClassSpace)) return skip_while(s, start + len, n, is_other);
  return whitespace_end(s, i, n);
}

inline size_t cl100k_next(const uint8_t* s, size_t i, size_t n) {
  if (size_t c = contraction_len(s, i, n, true)) return i + c;
  int len;
  uint8_t k = class_at(s, i, n, len);
  auto letters = [](uint8_t c) { return c & kClassLetter; };
  if (k & kClassLetter) return skip_while(s, i + len, n, letters);
  if (!(k & (kClassNewline | kClassNumber)) && i + len < n) {
    int len2;
    if (class_at(s, i + len, n, len2) & kClassLetter) return skip_while(s, i + len + len2, n, letters);
  }
  if (k & kClassNumber) {
    size_t j = i + len;
    for (int m = 1; m < 3 && j < n; ++m) {
      int l;
      if (!(class_at(s, j, n, l) & kClassNumber)) break;
      j += l;
    }
    return j;
  }
  size_t start = i;
  if (s[i] == ' ' && i + 1 < n) {
    int len2;
    if (is_other(class_at(s, i + 1, n, len2))) { start = i + 1; k = 0; len = len2; }
  }
  if (is_other(k)) {
    size_t j = skip_while(s, start + len, n, is_other);
    while (j < n && (s[j] == '\r' || s[j] == '\n')) ++j;
    return j;
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
  size_t j = i, after_nl = 0;
  while (j < n) {
    int l;
    uint8_t c = class_at(s, j, n, l);
    if (!(c & kClassSpace)) break;
    j += l;
    if (c & kClassNewline) after_nl = j;
  }
  if (after_nl) return after_nl;
  return whitespace_end(s, i, n);
}

}  // namespace detail

// Calls emit(begin, end) for each piece of text, in order; the pieces tile [0, text.size()).
template <typename Emit>
void pretokenize(const PreTokenizerConfig& cfg, std::string_view text, Emit&& emit) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    size_t j = cfg.pattern == Pattern::kGpt2 ? detail::gpt2_next(s, i, n) : detail::cl100k_next(s, i, n);
    if (cfg.digits == DigitSplit::kIndividual) {
      size_t run = i;  // start of the pending run of non-digits
      for (size_t p = i; p < j;) {
        int len;
        if (detail::class_at(s, p, n, len) & kClassNumber) {
          if (run < p) emit(run, p);
          emit(p, p + len);
          run = p + len;
        }
        p += len;
      }
      if (run < j) emit(run, j);
    } else {
      emit(i, j);
    }
    i = j;
  }
}

}  // namespace anvil::tok
