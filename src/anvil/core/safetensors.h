// safetensors reader and writer: [u64 LE header length N][N bytes UTF-8 JSON][data buffer], per
// huggingface/safetensors `safetensors/src/tensor.rs` (spec: docs/formats/safetensors.md).
// The reader validates everything before handing out a tensor: a file that opens never yields a
// tensor outside its buffer. Tensors from get() are zero-copy views over the mapping (read-only
// memory: clone() before writing), kept alive by the tensor itself. The writer's bytes match the
// reference library's (dtype-descending then name order, JSON padded with spaces to 8 bytes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/core/tensor.h"

namespace anvil {

inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // MAX_HEADER_SIZE in tensor.rs

// One tensor's header entry, validated.
struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;      // as written in the file: "F32", "F64", ...
  std::optional<DType> dtype;  // nullopt for a valid safetensors dtype anvil does not load (F64, U8, ...)
  std::vector<int64_t> shape;  // may have any rank; get() needs rank <= kMaxDims
  uint64_t begin = 0;          // byte range in the data buffer (which starts at file offset 8 + N)
  uint64_t end = 0;            // exclusive
};

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates it.
  static Result<SafetensorsFile> open(const std::string& path);
  // Validates a whole file image held in memory. `label` names it in errors; `keeper` (may be null)
  // keeps `bytes` alive for the tensors get() returns — without one the caller must.
  static Result<SafetensorsFile> parse(std::span<const uint8_t> bytes, const std::string& label = "<memory>",
                                       std::shared_ptr<const void> keeper = nullptr);

  // Tensor names in file (data offset) order.
  std::vector<std::string> names() const;
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(const std::string& name) const;  // null when absent
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // A zero-copy view (or an aligned copy when the file's data is misaligned for the dtype).
  // Errors: unknown name (not_found), dtype anvil does not load (unimplemented), rank > kMaxDims.
  Result<Tensor> get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& label() const { return label_; }
  uint64_t header_bytes() const { return header_bytes_; }  // N

 private:
  std::string label_;
  std::span<const uint8_t> data_;  // the data buffer (after the header)
  std::shared_ptr<const void> keeper_;
  uint64_t header_bytes_ = 0;
  std::vector<SafetensorsEntry> entries_;  // sorted by offset
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The whole file image in memory (what save_safetensors writes).
Result<std::string> serialize_safetensors(const NamedTensors& tensors,
                                          const std::map<std::string, std::string>& metadata = {});
// Writes atomically (temp file + rename). Non-contiguous tensors are written in row-major order.
// Names must be unique, valid UTF-8 and not "__metadata__"; empty metadata writes no "__metadata__".
Status save_safetensors(const std::string& path, const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace anvil
