// Token shard writer and reader (shards.h; format in docs/formats/token_shards.md).
#include "anvil/data/shards.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace anvil::data {
namespace {

static_assert(std::endian::native == std::endian::little, "token shards are little-endian; add byte swaps");

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
void store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

constexpr size_t kCopyChunk = size_t{1} << 20;

}  // namespace

Result<ShardHeader> parse_shard_header(std::span<const uint8_t> bytes, uint64_t file_size, const std::string& name) {
  if (file_size < kShardHeaderBytes) {
    return invalid_argument("[shards.open] '{}': {} bytes is shorter than the {}-byte header", name, file_size,
                            kShardHeaderBytes);
  }
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kShardMagic, sizeof(kShardMagic)) != 0) {
    return invalid_argument("[shards.open] '{}': bad magic (expected \"ANVLTOKS\"), not a token shard", name);
  }
  ShardHeader h;
  h.version = load<uint32_t>(p + 8);
  h.token_bytes = load<uint32_t>(p + 12);
  h.count = load<uint64_t>(p + 16);
  h.vocab_size = load<uint32_t>(p + 24);
  const uint32_t reserved = load<uint32_t>(p + 28);
  if (h.version != kShardVersion) {
    return invalid_argument("[shards.open] '{}': version {} is not supported (this build reads {})", name, h.version,
                            kShardVersion);
  }
  if (h.token_bytes != 2 && h.token_bytes != 4) {
    return invalid_argument("[shards.open] '{}': token width {} bytes (expected 2 or 4)", name, h.token_bytes);
  }
  if (reserved != 0) return invalid_argument("[shards.open] '{}': reserved header field is {}, not 0", name, reserved);
  if (h.vocab_size == 0) return invalid_argument("[shards.open] '{}': vocab size is 0", name);
  if (h.token_bytes == 2 && h.vocab_size > kMaxU16Vocab) {
    return invalid_argument("[shards.open] '{}': vocab size {} does not fit uint16 tokens", name, h.vocab_size);
  }
  const uint64_t payload = file_size - kShardHeaderBytes;
  if (payload % h.token_bytes != 0 || h.count != payload / h.token_bytes) {
    return invalid_argument("[shards.open] '{}': header says {} tokens of {} bytes but the file has {} bytes after "
                            "the header (truncated or corrupt)",
                            name, h.count, h.token_bytes, payload);
  }
  return h;
}

void encode_shard_header(const ShardHeader& h, uint8_t out[kShardHeaderBytes]) {
  std::memcpy(out, kShardMagic, sizeof(kShardMagic));
  store<uint32_t>(out + 8, h.version);
  store<uint32_t>(out + 12, h.token_bytes);
  store<uint64_t>(out + 16, h.count);
  store<uint32_t>(out + 24, h.vocab_size);
  store<uint32_t>(out + 28, 0);
}

TokenShardWriter::~TokenShardWriter() {
  if (spill_) {
    std::fclose(spill_);
    ::unlink(spill_path_.c_str());
  }
}

Status TokenShardWriter::open(const std::string& path, const ShardWriterOptions& opt) {
  if (open_) return invalid_argument("[shards.write] '{}': writer is already open for '{}'", path, path_);
  if (opt.vocab_size == 0) return invalid_argument("[shards.write] '{}': vocab_size must be > 0", path);
  path_ = path;
  spill_path_ = path + ".spill." + std::to_string(::getpid());
  opt_ = opt;
  token_bytes_ = opt.vocab_size <= kMaxU16Vocab ? 2 : 4;
  buffer_.clear();
  count_ = 0;
  open_ = true;
  return ok_status();
}

Status TokenShardWriter::spill() {
  if (!spill_) {
    spill_ = std::fopen(spill_path_.c_str(), "w+b");
    if (!spill_) return io_error("[shards.write] cannot create '{}': {}", spill_path_, std::strerror(errno));
  }
  if (std::fwrite(buffer_.data(), 1, buffer_.size(), spill_) != buffer_.size()) {
    return io_error("[shards.write] writing '{}': {}", spill_path_, std::strerror(errno));
  }
  buffer_.clear();
  return ok_status();
}

Status TokenShardWriter::append(std::span<const uint32_t> tokens) {
  if (!open_) return invalid_argument("[shards.write] append before open");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= opt_.vocab_size) {
      return invalid_argument("[shards.write] '{}': token {} at position {} of this append is ≥ vocab size {}",
                              path_, tokens[i], count_ + i, opt_.vocab_size);
    }
  }
  const size_t old = buffer_.size();
  buffer_.resize(old + tokens.size() * token_bytes_);
  uint8_t* out = buffer_.data() + old;
  if (token_bytes_ == 2) {
    for (size_t i = 0; i < tokens.size(); ++i) store<uint16_t>(out + 2 * i, static_cast<uint16_t>(tokens[i]));
  } else {
    std::memcpy(out, tokens.data(), tokens.size() * 4);
  }
  count_ += tokens.size();
  if (buffer_.size() >= opt_.buffer_tokens * token_bytes_) ANVIL_RETURN_IF_ERROR(spill());
  return ok_status();
}

Status TokenShardWriter::finalize() {
  if (!open_) return invalid_argument("[shards.write] finalize before open");
  AtomicFileWriter w;
  ANVIL_RETURN_IF_ERROR(w.open(path_));
  uint8_t header[kShardHeaderBytes];
  encode_shard_header({.token_bytes = token_bytes_, .count = count_, .vocab_size = opt_.vocab_size}, header);
  ANVIL_RETURN_IF_ERROR(w.write(header, sizeof(header)));
  if (spill_) {
    if (std::fflush(spill_) != 0 || std::fseek(spill_, 0, SEEK_SET) != 0) {
      return io_error("[shards.write] rewinding '{}': {}", spill_path_, std::strerror(errno));
    }
    std::vector<uint8_t> chunk(kCopyChunk);
    size_t n = 0;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), spill_)) > 0) ANVIL_RETURN_IF_ERROR(w.write(chunk.data(), n));
    if (std::ferror(spill_)) return io_error("[shards.write] reading back '{}'", spill_path_);
    std::fclose(spill_);
    spill_ = nullptr;
    ::unlink(spill_path_.c_str());
  }
  ANVIL_RETURN_IF_ERROR(w.write(buffer_.data(), buffer_.size()));
  ANVIL_RETURN_IF_ERROR(w.commit());
  buffer_.clear();
  buffer_.shrink_to_fit();
  open_ = false;
  return ok_status();
}

Result<TokenShard> TokenShard::open(const std::string& path) {
  TokenShard s;
  ANVIL_ASSIGN_OR_RETURN(s.file_, MappedFile::open(path));
  ANVIL_ASSIGN_OR_RETURN(s.header_, parse_shard_header(s.file_.bytes(), s.file_.size(), path));
  return s;
}

Status TokenShard::read(uint64_t begin, std::span<uint32_t> out) const {
  if (begin > size() || out.size() > size() - begin) {
    return out_of_range("[shards.read] '{}': tokens [{}, {}) are outside [0, {})", path(), begin, begin + out.size(),
                        size());
  }
  if (header_.token_bytes == 4) {
    std::memcpy(out.data(), u32_() + begin, out.size() * 4);
  } else {
    const uint16_t* src = u16_() + begin;
    for (size_t i = 0; i < out.size(); ++i) out[i] = src[i];
  }
  return ok_status();
}

Status TokenShard::check_ids() const {
  for (uint64_t i = 0; i < size(); ++i) {
    if ((*this)[i] >= header_.vocab_size) {
      return invalid_argument("[shards.check] '{}': token {} at position {} is ≥ vocab size {}", path(), (*this)[i], i,
                              header_.vocab_size);
    }
  }
  return ok_status();
}

}  // namespace anvil::data
