// Perplexity and bits-per-byte (method-specs §9.4) over token shards or raw text, with sliding windows:
// targets are taken in chunks of `stride` consecutive tokens, each chunk predicted from the `window`
// tokens before it (stride == window gives lm-eval's disjoint rolling windows; a smaller stride gives
// every chunk more context, as the Hugging Face perplexity guide). With an end-of-text token, each text
// document is prefixed with it so its first token is scored too (lm-eval); otherwise the first token of
// each document (and of a shard) is context only and counted in n_unscored. bpb follows nanochat:
// targets that are special tokens are left out of both the byte count and the bpb log-likelihood.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/eval/lm.h"

namespace anvil::eval {

struct PplOptions {
  int64_t window = 0;      // context tokens per forward; 0 = the scorer's max_length
  int64_t stride = 0;      // targets per window; 0 = window (disjoint windows)
  int64_t max_tokens = 0;  // shards: evaluate only the first max_tokens tokens; 0 = all
  int64_t max_docs = 0;    // text: evaluate only the first max_docs documents; 0 = all
  bool progress = false;   // a progress line on stderr
};

struct PplResult {
  std::string source = {};
  int64_t n_docs = 0;
  int64_t n_tokens = 0;      // targets scored
  int64_t n_unscored = 0;    // document-initial tokens used as context only
  int64_t n_bytes = 0;       // UTF-8 bytes of the scored non-special targets
  int64_t n_words = 0;       // text only: Σ len(re.split(r"\s+", doc))
  int64_t window = 0, stride = 0;
  double nll = 0.0;          // −Σ ln p over all scored targets (nats)
  double nll_bytes = 0.0;    // −Σ ln p over the non-special scored targets
  double ppl = 0.0;          // exp(nll / n_tokens)
  double bpb = 0.0;          // nll_bytes / (ln 2 · n_bytes); inf when n_bytes == 0
  double byte_perplexity = 0.0;  // exp(nll_bytes / n_bytes)
  double word_perplexity = 0.0;  // exp(nll / n_words); 0 for shards
  double seconds = 0.0;
};

// Core: documents of token ids; `prefix_eot` puts the end-of-text token before each one.
Result<PplResult> perplexity_of_docs(LmScorer& lm, std::span<const std::vector<int32_t>> docs, bool prefix_eot,
                                     const PplOptions& opt);
// Raw text: a .jsonl[.zst] file of {"text": ...} documents, or any other file as one document.
Result<PplResult> perplexity_of_text(LmScorer& lm, const std::string& path, const PplOptions& opt);
// A token shard (docs/formats/token_shards.md) as one stream.
Result<PplResult> perplexity_of_shard(LmScorer& lm, const std::string& path, const PplOptions& opt);

// len(re.split(r"\s+", text)) with Python's \s (ASCII whitespace and Unicode spaces in ASCII range).
int64_t count_words(std::string_view text);

}  // namespace anvil::eval
