// Corpus -> token shards (docs/formats/token_shards.md): documents are read as a stream (data/reader.h),
// encoded in parallel batches of about batch_bytes of text, each followed by the end-of-text token, and
// appended to train/ or val/ shards. A document goes to val iff xxh3_64(text) maps below
// val_fraction — a property of the text, not of its position, so adding files never moves a document
// between splits. Memory stays bounded by one batch plus the shard writers' buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/data/reader.h"
#include "anvil/data/record.h"

namespace anvil::tok {
class Tokenizer;
}

namespace anvil::data {

struct TokenizeOptions {
  std::vector<std::string> inputs;   // JSONL or text files, zstd or not
  ReaderOptions reader = {};
  std::string out_dir;               // writes out_dir/{train,val}/shard-NNNNN.tok
  double val_fraction = 0.01;        // share of documents (by text hash) for validation
  std::string eos_token = "<|endoftext|>";  // appended after every document; "" = none
  size_t batch_bytes = size_t{16} << 20;    // text encoded per parallel batch
  uint64_t shard_tokens = uint64_t{1} << 28;  // tokens per shard before starting the next
  int n_threads = 0;                 // 0 = all cores
  bool show_progress = true;
};

struct TokenizeReport {
  RecordStats stats;        // n_input = documents read; kept = encoded; bad records dropped
  uint64_t train_docs = 0, val_docs = 0;
  uint64_t train_tokens = 0, val_tokens = 0;
  uint32_t vocab_size = 0;
  std::vector<std::string> shards;
  double seconds = 0;
};

Result<TokenizeReport> tokenize_corpus(const tok::Tokenizer& tokenizer, const TokenizeOptions& options);

}  // namespace anvil::data
