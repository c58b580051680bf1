// Token shards (docs/formats/token_shards.md): a 32-byte little-endian header — magic "ANVLTOKS",
// u32 version 1, u32 bytes per token (2 or 4), u64 token count, u32 vocab size, u32 reserved 0 — then
// `count` tokens of that width. uint16 when vocab ≤ 65536, else uint32. Invariant the reader checks:
// file size == 32 + count × width, every field valid; a shard that opens is safe to index.
// The writer streams (bounded memory: a buffer, then a spill file) and commits atomically.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/file.h"
#include "anvil/base/status.h"

namespace anvil::data {

inline constexpr char kShardMagic[8] = {'A', 'N', 'V', 'L', 'T', 'O', 'K', 'S'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 32;
inline constexpr uint64_t kMaxU16Vocab = 65536;

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t token_bytes = 2;  // 2 (uint16) or 4 (uint32)
  uint64_t count = 0;
  uint32_t vocab_size = 0;
};

// Parses and validates the header of a shard whose whole size is `file_size` bytes; `bytes` holds at
// least its first min(file_size, 32) bytes. Errors name `name` and the offending values.
Result<ShardHeader> parse_shard_header(std::span<const uint8_t> bytes, uint64_t file_size, const std::string& name);
void encode_shard_header(const ShardHeader& h, uint8_t out[kShardHeaderBytes]);

struct ShardWriterOptions {
  uint32_t vocab_size = 0;                  // required, > 0; picks the token width
  size_t buffer_tokens = size_t{1} << 24;   // tokens held in memory before spilling to disk
};

class TokenShardWriter {
 public:
  TokenShardWriter() = default;
  ~TokenShardWriter();
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;

  Status open(const std::string& path, const ShardWriterOptions& opt);
  // Appends tokens; an id ≥ vocab_size is an error (and nothing of that call is written).
  Status append(std::span<const uint32_t> tokens);
  // Writes header + tokens to `path` atomically; without it, `path` is never created or changed.
  Status finalize();
  uint64_t count() const { return count_; }

 private:
  Status spill();

  std::string path_, spill_path_;
  ShardWriterOptions opt_;
  uint32_t token_bytes_ = 2;
  uint64_t count_ = 0;
  std::vector<uint8_t> buffer_;  // encoded tokens not yet spilled
  std::FILE* spill_ = nullptr;
  bool open_ = false;
};

// A validated, memory-mapped shard.
class TokenShard {
 public:
  static Result<TokenShard> open(const std::string& path);

  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.count; }
  uint32_t vocab_size() const { return header_.vocab_size; }
  uint32_t token_bytes() const { return header_.token_bytes; }
  uint32_t operator[](uint64_t i) const {
    return header_.token_bytes == 2 ? u16_()[i] : u32_()[i];
  }
  // Copies tokens [begin, begin + out.size()) widened to uint32; out of range is an error.
  Status read(uint64_t begin, std::span<uint32_t> out) const;
  // Every id < vocab_size (O(count)); the error names the first bad position.
  Status check_ids() const;
  const std::string& path() const { return file_.path(); }

 private:
  const uint16_t* u16_() const { return reinterpret_cast<const uint16_t*>(file_.data() + kShardHeaderBytes); }
  const uint32_t* u32_() const { return reinterpret_cast<const uint32_t*>(file_.data() + kShardHeaderBytes); }

  MappedFile file_;
  ShardHeader header_;
};

}  // namespace anvil::data
