// Normalization chain (normalize.h). Hot loops are byte-at-a-time with an 8-byte ASCII fast path;
// NFKC copies runs of inert code points and calls utf8proc only on the short regions around the others.
#include "anvil/data/normalize.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include <utf8proc.h>

namespace anvil::data {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ull;
// Latin letters weigh 1/kLatinPerHan of a Han character when scripts are compared (a Chinese word is
// ~1.5 characters, an English word ~5 letters).
constexpr double kLatinPerHan = 3.0;
// Latin-script text is "en" when at least this fraction of its words are common English stop words,
// or when it has too few words to tell.
constexpr double kMinEnglishStopFraction = 0.05;
constexpr size_t kMinWordsForStopTest = 20;

// Length of the valid sequence starting at p (1..4), or 0 with *bad = length of the maximal invalid
// subpart (≥ 1) to replace by one U+FFFD.
size_t decode_len(const unsigned char* p, size_t avail, size_t* bad, uint32_t* cp) {
  const unsigned char c = p[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  uint32_t v = c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    const unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if (k >= avail || p[k] < lo_k || p[k] > hi_k) {
      *bad = k;
      return 0;
    }
    v = (v << 6) | (p[k] & 0x3F);
  }
  *cp = v;
  return len;
}

bool is_zero_width(uint32_t cp) { return cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF; }

bool is_han(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF);
}

// English stop words of at most 4 letters, tested as packed little-endian words.
bool is_stop_word(std::string_view w) {
  if (w.size() > 4) return false;
  uint32_t k = 0;
  std::memcpy(&k, w.data(), w.size());
  constexpr auto pack = [](const char* s) {
    uint32_t v = 0;
    for (int i = 0; s[i]; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << (8 * i);
    return v;
  };
  static constexpr uint32_t kStop[] = {pack("the"), pack("of"),   pack("and"), pack("to"), pack("a"),  pack("in"),
                                       pack("is"),  pack("that"), pack("for"), pack("it"), pack("with"), pack("as"),
                                       pack("was"), pack("on"),   pack("be"),  pack("are")};
  for (uint32_t s : kStop) {
    if (k == s) return true;
  }
  return false;
}

constexpr auto kNfkcOptions = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);

// A code point NFKC never changes and never looks across: no decomposition, combining class 0, no part
// in any canonical composition (utf8proc's comb_index unset) and not Hangul (composed by algorithm).
// So NFKC(a + b) = NFKC(a) + NFKC(b) whenever b starts with one (UAX #15 §9, conservatively). BMP
// answers come from a bitmap built once; ASCII is always inert (never a second in a composition).
bool nfkc_inert_slow(uint32_t cp) {
  if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF)) return false;
  const utf8proc_property_t* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return prop->decomp_seqindex == UINT16_MAX && prop->combining_class == 0 && prop->comb_index == UINT16_MAX;
}

bool nfkc_inert(uint32_t cp) {
  static const std::vector<uint64_t> kBmp = [] {
    std::vector<uint64_t> bits(0x10000 / 64, 0);
    for (uint32_t c = 0; c < 0x10000; ++c) {
      if (c < 0x80 || nfkc_inert_slow(c)) bits[c / 64] |= uint64_t{1} << (c % 64);
    }
    return bits;
  }();
  return cp < 0x10000 ? (kBmp[cp / 64] >> (cp % 64)) & 1 : nfkc_inert_slow(cp);
}

// Appends NFKC(region) to out, like utf8proc_map but into a reused buffer (no allocation per call).
bool nfkc_append(std::string_view region, std::string& out) {
  thread_local std::vector<utf8proc_int32_t> buf(256);
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(region.data());
  const auto len = static_cast<utf8proc_ssize_t>(region.size());
  utf8proc_ssize_t n = utf8proc_decompose(s, len, buf.data(), static_cast<utf8proc_ssize_t>(buf.size()), kNfkcOptions);
  if (n < 0) return false;
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(static_cast<size_t>(n));
    n = utf8proc_decompose(s, len, buf.data(), n, kNfkcOptions);
    if (n < 0) return false;
  }
  const utf8proc_ssize_t bytes = utf8proc_reencode(buf.data(), n, kNfkcOptions);
  if (bytes < 0) return false;
  out.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(bytes));
  return true;
}

}  // namespace

size_t count_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n_bad = 0;
  for (size_t i = 0; i < s.size();) {
    if (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (!(w & kHighBits)) {
        i += 8;
        continue;
      }
    }
    size_t bad = 0;
    uint32_t cp;
    const size_t len = decode_len(p + i, s.size() - i, &bad, &cp);
    if (len == 0) {
      ++n_bad;
      i += bad;
    } else {
      i += len;
    }
  }
  return n_bad;
}

size_t repair_utf8(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size() + 16);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n_bad = 0;
  for (size_t i = 0; i < in.size();) {
    size_t bad = 0;
    uint32_t cp;
    const size_t len = decode_len(p + i, in.size() - i, &bad, &cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++n_bad;
      i += bad;
    } else {
      out.append(in.data() + i, len);
      i += len;
    }
  }
  return n_bad;
}

bool nfkc_inplace_reference(std::string& text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &out, kNfkcOptions);
  if (n < 0) return false;
  text.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return true;
}

bool nfkc_inplace(std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  std::string out;
  size_t i = 0, copied = 0;
  size_t last_inert = 0;  // start of the last inert code point before i (or where the last region ended)
  while (i < n) {
    if (p[i] < 0x80) {
      if (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (!(w & kHighBits)) {
          i += 8;
          last_inert = i - 1;
          continue;
        }
      }
      last_inert = i++;
      continue;
    }
    size_t bad = 0;
    uint32_t cp = 0;
    size_t len = decode_len(p + i, n - i, &bad, &cp);
    if (len == 0) return nfkc_inplace_reference(text);  // invalid UTF-8: let utf8proc refuse it
    if (nfkc_inert(cp)) {
      last_inert = i;
      i += len;
      continue;
    }
    // A region from the last inert code point (it may compose with what follows) to the next one.
    size_t j = i + len;
    while (j < n) {
      if (p[j] < 0x80) break;
      len = decode_len(p + j, n - j, &bad, &cp);
      if (len == 0) return nfkc_inplace_reference(text);
      if (nfkc_inert(cp)) break;
      j += len;
    }
    if (out.empty()) out.reserve(n + n / 8 + 16);
    out.append(text, copied, last_inert - copied);
    if (!nfkc_append(std::string_view(text).substr(last_inert, j - last_inert), out)) return false;
    copied = last_inert = i = j;
  }
  if (copied == 0) return true;  // nothing to change: every code point was inert
  out.append(text, copied, n - copied);
  text.swap(out);
  return true;
}

void clean_whitespace(std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t w = 0;              // write position (never ahead of the read position)
  size_t pending_space = 0;  // a space seen after non-space content on this line
  size_t pending_nl = 0;     // newlines seen since the last content
  bool line_has_content = false, doc_has_content = false;
  auto emit_separators = [&] {
    if (pending_nl > 0) {
      if (doc_has_content) {
        text[w++] = '\n';
        if (pending_nl > 1) text[w++] = '\n';
      }
      pending_nl = 0;
      pending_space = 0;
    } else if (pending_space && line_has_content) {
      text[w++] = ' ';
    }
    pending_space = 0;
  };
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c >= 0x21 && c <= 0x7E) {  // the hot case: a run of visible ASCII, copied as one piece
      emit_separators();
      size_t j = i + 1;
      while (j < n && p[j] >= 0x21 && p[j] <= 0x7E) ++j;
      if (w != i) {
        for (size_t k = i; k < j; ++k) text[w + k - i] = static_cast<char>(p[k]);
      }
      w += j - i;
      i = j;
      line_has_content = doc_has_content = true;
      continue;
    }
    if (c < 0x80) {
      if (c == '\n' || c == '\r') {
        if (c == '\r' && i + 1 < n && p[i + 1] == '\n') ++i;
        ++pending_nl;
        line_has_content = false;
        pending_space = 0;
      } else if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
        pending_space = 1;
      } else if (c >= 0x20 && c != 0x7F) {
        emit_separators();
        text[w++] = static_cast<char>(c);
        line_has_content = doc_has_content = true;
      }
      ++i;
      continue;
    }
    size_t bad = 0;
    uint32_t cp = 0;
    const size_t len = decode_len(p + i, n - i, &bad, &cp);
    if (len == 0) {  // invalid bytes are the UTF-8 stage's business: keep them as they are
      emit_separators();
      for (size_t k = 0; k < bad; ++k) text[w++] = static_cast<char>(p[i + k]);
      line_has_content = doc_has_content = true;
      i += bad;
      continue;
    }
    if ((cp >= 0x80 && cp <= 0x9F) || is_zero_width(cp)) {
      i += len;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      ++pending_nl;
      line_has_content = false;
      pending_space = 0;
      i += len;
      continue;
    }
    emit_separators();
    std::memmove(&text[w], p + i, len);
    w += len;
    line_has_content = doc_has_content = true;
    i += len;
  }
  text.resize(w);
}

Lang detect_language(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n_han = 0, n_latin = 0, n_other = 0, n_words = 0, n_stop = 0;
  char word[8];
  size_t word_len = 0;
  bool in_word = false;
  auto end_word = [&] {
    if (in_word) {
      ++n_words;
      if (word_len <= sizeof(word) && is_stop_word(std::string_view(word, word_len))) ++n_stop;
    }
    in_word = false;
    word_len = 0;
  };
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      const unsigned char lower = c | 0x20;
      if (lower >= 'a' && lower <= 'z') {  // a run of ASCII letters in one go
        size_t j = i;
        do {
          if (word_len < sizeof(word)) word[word_len] = static_cast<char>(p[j] | 0x20);
          ++word_len, ++j;
        } while (j < text.size() && (p[j] | 0x20) >= 'a' && (p[j] | 0x20) <= 'z');
        n_latin += j - i;
        in_word = true;
        i = j;
        continue;
      }
      end_word();
      ++i;
      continue;
    }
    size_t bad = 0;
    uint32_t cp = 0;
    const size_t len = decode_len(p + i, text.size() - i, &bad, &cp);
    if (len == 0) {
      end_word();
      i += bad;
      continue;
    }
    i += len;
    if (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) {  // accented Latin letters continue a word
      ++n_latin;
      word_len = sizeof(word) + 1;  // …and keep it from matching an English stop word
      in_word = true;
      continue;
    }
    end_word();
    if (is_han(cp)) {
      ++n_han;
    } else {
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
      if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ++n_other;
    }
  }
  end_word();
  const double han = static_cast<double>(n_han), latin = static_cast<double>(n_latin) / kLatinPerHan;
  const double other = static_cast<double>(n_other);
  if (han > 0 && han >= latin && han >= other) return Lang::kZh;
  if (latin > 0 && latin >= other) {
    if (n_words < kMinWordsForStopTest) return Lang::kEn;
    return static_cast<double>(n_stop) >= kMinEnglishStopFraction * static_cast<double>(n_words) ? Lang::kEn
                                                                                               : Lang::kOther;
  }
  return Lang::kOther;
}

const char* lang_name(Lang l) {
  switch (l) {
    case Lang::kZh: return "zh";
    case Lang::kEn: return "en";
    case Lang::kOther: return "other";
  }
  return "other";
}

Result<Lang> parse_lang(std::string_view s) {
  for (Lang l : {Lang::kZh, Lang::kEn, Lang::kOther}) {
    if (s == lang_name(l)) return l;
  }
  return invalid_argument("[normalize] unknown language '{}' (expected zh|en|other)", s);
}

NormalizeResult normalize_document(std::string& text, const NormalizeOptions& opt) {
  NormalizeResult r;
  r.n_invalid_utf8 = count_invalid_utf8(text);
  if (r.n_invalid_utf8 > 0) {
    if (opt.utf8 == Utf8Policy::kDrop) {
      r.drop = DropReason::kBadUtf8;
      return r;
    }
    std::string fixed;
    repair_utf8(text, fixed);
    text.swap(fixed);
  }
  if (opt.nfkc && !nfkc_inplace(text)) {
    r.drop = DropReason::kBadUtf8;  // unreachable after repair unless utf8proc disagrees with us
    return r;
  }
  if (opt.clean) clean_whitespace(text);
  if (text.empty()) {
    r.drop = DropReason::kEmpty;
    return r;
  }
  r.lang = detect_language(text);
  if (!opt.keep_languages.empty()) {
    bool keep = false;
    for (Lang l : opt.keep_languages) keep |= l == r.lang;
    if (!keep) r.drop = DropReason::kLanguage;
  }
  return r;
}

}  // namespace anvil::data
