// Batches of (B, T) training windows drawn from token shards (data/shards.h).
// Each shard is cut into non-overlapping windows of T+1 tokens (inputs t..t+T-1, targets t+1..t+T);
// an epoch visits every window exactly once in an order shuffled from (seed, epoch), so the stream is
// deterministic for a seed and sampling is without replacement within an epoch. The position
// (epoch, cursor) is the whole state: a checkpoint stores it and resume continues the same stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/data/shards.h"

namespace anvil::train {

struct LoaderPosition {
  uint64_t epoch = 0;
  uint64_t cursor = 0;  // windows of this epoch already handed out
};

class TokenLoader {
 public:
  // Opens every shard in `paths` (files, or directories whose *.tok files are taken in name order).
  static Result<TokenLoader> open(const std::vector<std::string>& paths, int64_t T, uint64_t seed);

  // Fills ids and targets (B*T each) with the next B windows; crosses epochs as needed.
  void next_batch(int64_t B, int32_t* ids, int32_t* targets);
  // Fills the i-th batch of a fixed, unshuffled sweep (for validation: the same batches every time).
  // Returns false when i is past the last full batch.
  bool fixed_batch(int64_t i, int64_t B, int32_t* ids, int32_t* targets) const;

  uint64_t n_windows() const { return windows_.size(); }
  uint64_t n_tokens() const { return n_tokens_; }
  uint32_t vocab_size() const { return vocab_size_; }
  int64_t context() const { return T_; }
  const LoaderPosition& position() const { return pos_; }
  void set_position(const LoaderPosition& p);

 private:
  struct Window {
    uint32_t shard;
    uint64_t start;
  };
  void shuffle_epoch();
  void copy_window(const Window& w, int32_t* ids, int32_t* targets) const;

  std::vector<data::TokenShard> shards_;
  std::vector<Window> windows_;  // in file order
  std::vector<uint64_t> order_;  // this epoch's permutation of windows_
  int64_t T_ = 0;
  uint64_t seed_ = 0, n_tokens_ = 0;
  uint32_t vocab_size_ = 0;
  LoaderPosition pos_;
};

// Expands files and directories into the list of shard files (directories: *.tok, sorted).
Result<std::vector<std::string>> list_shards(const std::vector<std::string>& paths);

}  // namespace anvil::train
