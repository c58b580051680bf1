// Tokenizer files: Hugging Face tokenizer.json (byte-level BPE; read and write, merges in both the
// legacy "a b" string form and the [["a","b"]] pair form), GPT-2 encoder.json + vocab.bpe, and tiktoken
// rank files (base64 token + rank per line). Spec: docs/formats/tokenizer.md; HF layout per
// huggingface/tokenizers serialization.rs (method-specs 10.3). Errors name the file and the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::tok {

enum class MergesForm { kPairs, kStrings };  // [["Ġ","t"], ...] (tokenizers >= 0.20) or ["Ġ t", ...]

Result<Tokenizer> parse_tokenizer_json(std::string_view json, const std::string& origin = "<memory>",
                                       MissingBytes missing = MissingBytes::kError);
Result<Tokenizer> load_tokenizer_json(const std::string& path, MissingBytes missing = MissingBytes::kError);
std::string to_tokenizer_json(const Tokenizer& t, MergesForm form = MergesForm::kPairs);
Status save_tokenizer_json(const Tokenizer& t, const std::string& path, MergesForm form = MergesForm::kPairs);

struct ImportOptions {
  PreTokenizerConfig pretokenizer = {};
  // GPT-2: tokens of encoder.json with these texts become special. tiktoken: appended after the
  // ranks, in this order ("TEXT" or "TEXT=ID"; an explicit ID must keep ids dense).
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
};

Result<Tokenizer> import_gpt2(const std::string& encoder_json_path, const std::string& vocab_bpe_path,
                              const ImportOptions& opt = {});
Result<Tokenizer> import_tiktoken(const std::string& ranks_path, const ImportOptions& opt = {});
// Same, from text already in memory (origin names it in errors).
Result<Tokenizer> parse_gpt2(std::string_view encoder_json, std::string_view vocab_bpe, const ImportOptions& opt,
                             const std::string& origin);
Result<Tokenizer> parse_tiktoken(std::string_view ranks, const ImportOptions& opt, const std::string& origin);

}  // namespace anvil::tok
