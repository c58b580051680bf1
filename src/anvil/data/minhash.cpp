// MinHash signatures and LSH band keys (dedup.h; datatrove minhash.py semantics, method-specs §8.1).
#include <cstring>

#include <utf8proc.h>
#include <xxhash.h>

#include "anvil/base/rng.h"
#include "anvil/data/dedup.h"

namespace anvil::data {
namespace {

constexpr uint64_t kMersenne61 = (uint64_t{1} << 61) - 1;

bool is_han(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF);
}

void put_space(std::string& out) {
  if (!out.empty() && out.back() != ' ') out += ' ';
}

}  // namespace

std::string simplify_for_minhash(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') {
        out += static_cast<char>(c | 0x20);
      } else if ((c >= 'a' && c <= 'z')) {
        out += static_cast<char>(c);
      } else if (c >= '0' && c <= '9') {
        out += '0';
      } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        put_space(out);
      }  // ASCII punctuation and controls vanish
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (len <= 0) {
      ++i;
      continue;
    }
    i += static_cast<size_t>(len);
    if (is_han(cp)) {
      put_space(out);
      char buf[4];
      const auto n = utf8proc_encode_char(cp, reinterpret_cast<utf8proc_uint8_t*>(buf));
      out.append(buf, static_cast<size_t>(n));
      out += ' ';
      continue;
    }
    const auto cat = utf8proc_category(cp);
    if (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP) {
      put_space(out);
    } else if (cat == UTF8PROC_CATEGORY_ND) {
      out += '0';
    } else if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO) {  // letters, marks, numbers
      utf8proc_int32_t dec[8];
      int last = 0;
      const utf8proc_ssize_t n = utf8proc_decompose_char(
          cp, dec, 8, static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK),
          &last);
      for (utf8proc_ssize_t k = 0; k < n && k < 8; ++k) {
        char buf[4];
        const auto m = utf8proc_encode_char(dec[k], reinterpret_cast<utf8proc_uint8_t*>(buf));
        out.append(buf, static_cast<size_t>(m));
      }
    }  // punctuation, symbols, controls vanish
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

MinHasher::MinHasher(const MinHashOptions& opt) : opt_(opt) {
  Rng rng(opt.seed);
  a_.resize(static_cast<size_t>(n_hashes()));
  b_.resize(a_.size());
  for (size_t k = 0; k < a_.size(); ++k) {  // a in [1, p), b in [0, p), as datatrove draws them
    a_[k] = 1 + rng.below(kMersenne61 - 1);
    b_[k] = rng.below(kMersenne61);
  }
}

std::vector<uint64_t> MinHasher::shingles(std::string_view s) const {
  std::vector<uint64_t> out;
  if (s.empty()) return out;
  std::vector<size_t> starts;  // word starts; words are separated by exactly one space
  starts.push_back(0);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ') starts.push_back(i + 1);
  }
  const size_t n_words = starts.size(), n = static_cast<size_t>(opt_.n_grams);
  if (n_words < n) {
    out.push_back(XXH3_64bits(s.data(), s.size()));
    return out;
  }
  out.reserve(n_words - n + 1);
  for (size_t w = 0; w + n <= n_words; ++w) {
    const size_t begin = starts[w];
    const size_t end = w + n < n_words ? starts[w + n] - 1 : s.size();
    out.push_back(XXH3_64bits(s.data() + begin, end - begin));
  }
  return out;
}

bool MinHasher::signature(std::string_view text, std::span<uint64_t> sig) const {
  const std::string simple = simplify_for_minhash(text);
  const std::vector<uint64_t> sh = shingles(simple);
  const size_t K = a_.size();
  for (size_t k = 0; k < K; ++k) sig[k] = kMersenne61;
  if (sh.empty()) return false;
  const uint64_t* a = a_.data();
  const uint64_t* b = b_.data();
  uint64_t* m = sig.data();
  for (uint64_t x : sh) {
    for (size_t k = 0; k < K; ++k) {  // vectorises: vpmullq, shifts, masks, min
      uint64_t v = a[k] * x + b[k];   // wraps mod 2^64 first, like datatrove's numpy uint64
      v = (v & kMersenne61) + (v >> 61);
      v = v >= kMersenne61 ? v - kMersenne61 : v;
      m[k] = v < m[k] ? v : m[k];
    }
  }
  return true;
}

void MinHasher::band_keys(std::span<const uint64_t> sig, std::span<uint64_t> keys) const {
  const size_t r = static_cast<size_t>(opt_.rows_per_band);
  for (size_t band = 0; band < static_cast<size_t>(opt_.n_bands); ++band) {
    keys[band] = XXH3_64bits(sig.data() + band * r, r * sizeof(uint64_t));
  }
}

}  // namespace anvil::data
