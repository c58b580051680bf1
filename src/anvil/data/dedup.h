// Deduplication. Exact: xxh3-128 of the normalized text in an open-addressing set (16-byte slots,
// load ≤ 0.5, so 32–64 bytes per distinct document). Near: MinHash-LSH with datatrove's defaults
// (method-specs §8.1): word 5-grams of simplified text, 14 bands × 8 rows, h_k(x) = (a_k·x + b_k) mod
// 2^61−1 with the uint64 wrap before the mod, candidates = any identical band, clusters by union-find,
// one kept per cluster (the smallest document id). The a_k, b_k come from anvil's Rng, so signatures
// are not bit-identical to datatrove's. Staged files (docs/data.md §dedup) let N workers share the job.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::data {

struct Hash128 {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Hash128&) const = default;
};
Hash128 hash128(std::string_view text);

class ExactDedup {
 public:
  static constexpr size_t kBytesPerSlot = sizeof(Hash128) + 1;
  // True the first time a hash is seen, false for every repeat.
  bool insert(const Hash128& h);
  bool insert_text(std::string_view text) { return insert(hash128(text)); }
  size_t size() const { return n_; }
  size_t memory_bytes() const { return slots_.size() * sizeof(Hash128) + used_.size(); }

 private:
  void grow();
  std::vector<Hash128> slots_;
  std::vector<uint8_t> used_;
  size_t n_ = 0;
};

struct MinHashOptions {
  int n_grams = 5;
  int n_bands = 14;
  int rows_per_band = 8;
  uint64_t seed = 1;
};

// Lower-case, punctuation removed, runs of whitespace → one space, digits → '0', accents stripped;
// each Han character becomes its own word (datatrove uses a language-specific word tokenizer).
std::string simplify_for_minhash(std::string_view text);

class MinHasher {
 public:
  explicit MinHasher(const MinHashOptions& opt = {});
  int n_hashes() const { return opt_.n_bands * opt_.rows_per_band; }
  int n_bands() const { return opt_.n_bands; }
  // Min-hash values (n_hashes) of `text`'s shingles; false when the text has no words.
  bool signature(std::string_view text, std::span<uint64_t> sig) const;
  // One 64-bit key per band (xxh3 of its rows).
  void band_keys(std::span<const uint64_t> sig, std::span<uint64_t> keys) const;
  // Shingle hashes of simplified text (exposed for tests: their Jaccard is what LSH estimates).
  std::vector<uint64_t> shingles(std::string_view simplified) const;

 private:
  MinHashOptions opt_;
  std::vector<uint64_t> a_, b_;
};

// ---- staged near-dedup (files are little-endian, headers carry a magic and the band count) ----
// Stage 1, per worker: for each document (global id, e.g. shard << 40 | ordinal), its band keys.
class SignatureWriter {
 public:
  Status open(const std::string& path, int n_bands);
  Status add(uint64_t doc_id, std::span<const uint64_t> band_keys);
  Status finalize();

 private:
  std::string path_;
  int n_bands_ = 0;
  std::vector<uint64_t> data_;
};
// Stage 2, per worker j of N: for bands b with b % N == j, sort (key, doc) over all signature files
// and write the candidate pairs (doc, first doc with the same key) to `out_path`.
Status build_band_pairs(const std::vector<std::string>& signature_paths, int worker, int n_workers,
                        const std::string& out_path);
// Stage 3, one process: union-find over all pairs; writes the sorted ids to remove (every cluster
// member but its smallest id) and returns them.
Result<std::vector<uint64_t>> cluster_pairs(const std::vector<std::string>& pair_paths, const std::string& out_path);
Result<std::vector<uint64_t>> read_removals(const std::string& path);

}  // namespace anvil::data
