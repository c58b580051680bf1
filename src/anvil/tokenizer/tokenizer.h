// Byte-level BPE tokenizer: ids <-> byte strings, rank-based merging (lowest merge rank first,
// leftmost on ties — HF `Word::merge_all` / tiktoken order), special tokens, exact decoding of any id
// sequence, batch encoding on all cores, and a streaming decoder that emits only complete UTF-8.
// Invariants: ids are dense 0..vocab_size-1; every byte 0..255 has a single-byte token (unless loaded
// with MissingBytes::kDrop); merge r joins tokens (left, right) into the token whose bytes are their
// concatenation. Design: docs/tokenizer.md; files: docs/formats/tokenizer.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/tokenizer/flat_map.h"
#include "anvil/tokenizer/pretokenize.h"

namespace anvil::tok {

// How a special token's text inside the input is treated. kAsText (the default) encodes
// "<|endoftext|>" in user text as ordinary bytes, so untrusted text cannot inject control tokens;
// kAllow maps it to the special id (chat templates, document separators).
enum class SpecialMode { kAsText, kAllow };

struct EncodeOptions {
  SpecialMode special = SpecialMode::kAsText;
};

// A vocab without some of the 256 single-byte tokens (e.g. trained by HF tokenizers without an initial
// alphabet): kError refuses it; kDrop loads it and drops those bytes when encoding, as HF does (then
// decode(encode(x)) == x only for text without them).
enum class MissingBytes { kError, kDrop };

struct Merge {
  uint32_t left, right;
};

// Everything a tokenizer is made of; loaders and the trainer fill it, Tokenizer::create validates it.
struct TokenizerParts {
  std::vector<std::string> tokens = {};  // id -> bytes (special tokens: their text)
  std::vector<Merge> merges = {};        // in rank order
  std::vector<uint32_t> special_ids = {};  // ids of special (added) tokens
  PreTokenizerConfig pretokenizer = {};
  bool ignore_merges = false;         // HF option: a piece that is itself a token is emitted whole
  MissingBytes missing_bytes = MissingBytes::kError;
};

// Per-thread memo of piece -> ids for short pieces (direct-mapped, 2 MiB). Not thread-safe.
class PieceCache {
 public:
  PieceCache();
  static constexpr size_t kMaxKey = 22, kMaxIds = 8;
  struct Slot {
    uint64_t hash;
    uint8_t key_len;  // 0xFF = empty
    uint8_t n_ids;
    char key[kMaxKey];
    uint32_t ids[kMaxIds];
  };
  static_assert(sizeof(Slot) == 64);
  std::vector<Slot> slots;
};

struct EncodedBatch {
  std::vector<uint32_t> ids;
  std::vector<uint64_t> offsets;  // document d is ids[offsets[d], offsets[d + 1])
};

class Tokenizer {
 public:
  static Result<Tokenizer> create(TokenizerParts parts);

  size_t vocab_size() const { return parts_.tokens.size(); }
  size_t n_merges() const { return parts_.merges.size(); }
  const TokenizerParts& parts() const { return parts_; }
  const std::string& token_bytes(uint32_t id) const { return parts_.tokens[id]; }
  bool is_special(uint32_t id) const { return id < is_special_.size() && is_special_[id]; }
  // Id of the token with exactly these bytes (regular or special), if any.
  std::optional<uint32_t> token_id(std::string_view bytes) const;

  // Appends the ids of text to out. cache may be null (then nothing is memoised).
  void encode(std::string_view text, std::vector<uint32_t>& out, const EncodeOptions& opt = {},
              PieceCache* cache = nullptr) const;
  std::vector<uint32_t> encode(std::string_view text, const EncodeOptions& opt = {}) const;
  // Encodes documents in parallel (n_threads <= 0: all cores) into one flat id vector.
  EncodedBatch encode_batch(std::span<const std::string_view> docs, const EncodeOptions& opt = {},
                            int n_threads = 0) const;
  // Appends the ids of one pre-token piece (no special-token matching, no pre-tokenization).
  void encode_piece(std::string_view piece, std::vector<uint32_t>& out) const;

  // Exact bytes of an id sequence; fails only on an id >= vocab_size.
  Result<std::string> decode(std::span<const uint32_t> ids) const;

 private:
  void encode_ordinary(std::string_view text, std::vector<uint32_t>& out, PieceCache* cache) const;
  void merge_short(const uint8_t* p, size_t n, std::vector<uint32_t>& out) const;
  void merge_long(const uint8_t* p, size_t n, std::vector<uint32_t>& out) const;
  uint32_t rank_of(uint32_t a, uint32_t b) const {
    const uint32_t* r = merge_rank_.find(pair_key(a, b));
    return r ? *r : kNoRank;
  }
  static constexpr uint32_t kNoRank = 0xFFFFFFFFu;
  static constexpr uint32_t kMissingByte = 0xFFFFFFFFu;

  TokenizerParts parts_;
  uint32_t byte_id_[256] = {};
  bool has_missing_bytes_ = false;
  PairMap merge_rank_;                  // (left, right) -> rank
  std::vector<uint32_t> merge_result_;  // rank -> id
  std::unordered_map<std::string, uint32_t> by_bytes_;
  std::vector<uint8_t> is_special_;
  std::vector<std::pair<std::string, uint32_t>> specials_by_length_;  // longest first
  bool special_first_byte_[256] = {};
};

// Cuts text into parts of about target_bytes at points where pre-tokenization provably does not
// change (after a '\n' that follows a non-space and precedes an ASCII letter), so that encoding the
// parts one by one (e.g. with encode_batch) gives exactly the ids of encoding the whole text.
std::vector<std::string_view> split_at_safe_points(std::string_view text, size_t target_bytes);

// Incremental decoder for streaming: push ids, get back text that is complete, valid UTF-8. Bytes
// of an unfinished character wait for the next id; a byte that can never start or continue a valid
// character is emitted as U+FFFD (decode() stays the exact, byte-preserving path).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& t) : t_(&t) {}
  Result<std::string> push(uint32_t id);
  std::string flush();  // the rest; an unfinished character becomes U+FFFD

 private:
  std::string drain(bool final);
  const Tokenizer* t_;
  std::string pending_;
};

}  // namespace anvil::tok
