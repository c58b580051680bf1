// Names and regex strings of the pre-tokenization patterns (the matchers are inline in the header).
#include "anvil/tokenizer/pretokenize.h"

namespace anvil::tok {

const char* pattern_name(Pattern p) { return p == Pattern::kGpt2 ? "gpt2" : "cl100k"; }

const char* pattern_regex(Pattern p) {
  if (p == Pattern::kGpt2) return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

}  // namespace anvil::tok
