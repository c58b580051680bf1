// Unicode helpers for byte-level BPE: UTF-8 decoding that never fails (an invalid byte is one
// "other" character of length 1), the character classes the pre-tokenizer regexes use (\p{L}, \p{N},
// \s = Unicode White_Space, as Rust regex / tiktoken define them), and GPT-2's byte<->unicode table
// (openai/gpt-2 encoder.py bytes_to_unicode; method-specs 10.3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace anvil::tok {

// Character class bits.
enum : uint8_t {
  kClassLetter = 1,   // \p{L}: Lu Ll Lt Lm Lo
  kClassNumber = 2,   // \p{N}: Nd Nl No
  kClassSpace = 4,    // \s: Unicode White_Space
  kClassNewline = 8,  // \r or \n (also kClassSpace)
};

// Class bits of one code point.
uint8_t char_class(uint32_t cp);

// Decodes the character starting at s[i] (n = s.size()); returns its length in bytes (1..4) and sets
// cp. Invalid or truncated sequences decode as one byte with cp = 0xFFFFFFFF (class 0).
inline int decode_utf8(const uint8_t* s, size_t i, size_t n, uint32_t& cp) {
  uint8_t c = s[i];
  if (c < 0x80) { cp = c; return 1; }
  if (c >= 0xC2 && c < 0xE0) {
    if (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) { cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); return 2; }
  } else if (c >= 0xE0 && c < 0xF0) {
    if (i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
      uint32_t v = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
      if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) { cp = v; return 3; }
    }
  } else if (c >= 0xF0 && c < 0xF5) {
    if (i + 3 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 && (s[i + 3] & 0xC0) == 0x80) {
      uint32_t v = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
      if (v >= 0x10000 && v <= 0x10FFFF) { cp = v; return 4; }
    }
  }
  cp = 0xFFFFFFFFu;
  return 1;
}

// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, uint32_t cp);

// GPT-2 byte-level alphabet: byte -> code point (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF map to themselves,
// the other 68 bytes to U+0100 + n in increasing byte order).
uint32_t byte_to_unicode(uint8_t b);
// Inverse; returns -1 for a code point outside the alphabet.
int unicode_to_byte(uint32_t cp);
// Raw bytes -> the byte-level string used as a vocab key in tokenizer.json / encoder.json.
std::string bytes_to_byte_level(std::string_view bytes);
// Byte-level string -> raw bytes; false if a character is outside the alphabet or the UTF-8 is bad.
bool byte_level_to_bytes(std::string_view s, std::string& out);

}  // namespace anvil::tok
