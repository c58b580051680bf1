// Byte-level BPE training: parallel word counting over chunks of files or stdin with a bounded table,
// then a merge loop with incremental pair-count updates and a lazy max-heap (no full recount per merge,
// as HF tokenizers `BpeTrainer`). Tie-break, documented in docs/tokenizer.md: highest count first, then
// the smallest (left id, right id) pair, where byte b has id b and merged tokens take ids in creation
// order (HF's `Merge` ordering). Output ids: 0..255 bytes, then merges, then special tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/tokenizer/flat_map.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::tok {

enum class ProgressOutput { kNone, kStderr };

struct TrainerConfig {
  size_t vocab_size = 32768;      // all tokens: 256 bytes + merges + special tokens
  uint64_t min_frequency = 2;     // stop when the best pair occurs fewer times than this
  size_t max_token_length = 0;    // bytes per merged token; 0 = no limit
  std::vector<std::string> special_tokens = {};
  PreTokenizerConfig pretokenizer = {};
  size_t max_words = size_t{1} << 24;  // distinct words held while counting (memory cap, see prune rule)
  size_t chunk_bytes = size_t{16} << 20;  // bytes read per parallel counting step
  int n_threads = 0;              // <= 0: all cores
  ProgressOutput progress = ProgressOutput::kNone;
};

struct CountStats {
  uint64_t n_bytes = 0;
  uint64_t n_pieces = 0;
  uint64_t n_prunes = 0;        // times the table went over max_words and dropped rare words
  uint64_t prune_threshold = 0; // largest count dropped by a prune (0: counts are exact)
};

// Checks the settings a training run cannot start without (vocab room for bytes + special tokens,
// special tokens non-empty and distinct); count_words and train_bpe both call it, so a bad setting
// fails before a large corpus is read.
Status validate_trainer_config(const TrainerConfig& cfg);

// Counts pre-tokenized words of the inputs ("-" = stdin). Input is cut into chunks after a '\n' and
// each chunk is pre-tokenized alone (as HF tokenizers reads line by line). When a table passes
// max_words, words with count <= t are dropped, t doubling from 1 until the table is under half the cap.
Result<CountStats> count_words(std::span<const std::string> inputs, const TrainerConfig& cfg, WordCounter& out);
// Counts one in-memory text (tests, small corpora).
void count_words_in_text(std::string_view text, const PreTokenizerConfig& cfg, WordCounter& out);

struct TrainStats {
  size_t n_merges = 0;
  double merge_seconds = 0;
};

// Learns merges from word counts; returns the parts of a tokenizer (validated by Tokenizer::create).
Result<TokenizerParts> train_bpe(const WordCounter& words, const TrainerConfig& cfg, TrainStats* stats = nullptr);

}  // namespace anvil::tok
