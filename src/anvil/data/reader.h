// Streaming document readers (docs/formats/documents.md): JSONL (configurable text/id fields) and plain
// text (one document per file, per blank-line-separated block, or per line), either one optionally
// zstd-compressed (detected by magic, not by name). Memory stays bounded by the longest record
// (max_record_bytes caps it). A broken line — invalid JSON, a missing or non-string text field, invalid
// record size — is counted as DropReason::kBadRecord with "file:line: why" and skipped, unless strict.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/data/record.h"

namespace anvil::data {

enum class InputFormat { kAuto, kJsonl, kText };       // auto: by extension (.jsonl/.json[.zst]) else text
enum class TextUnit { kFile, kBlankLine, kLine };       // what one plain-text document is

struct ReaderOptions {
  InputFormat format = InputFormat::kAuto;
  TextUnit text_unit = TextUnit::kBlankLine;
  std::string text_field = "text";
  std::string id_field = "id";
  std::string source = {};                   // copied into Document::source when the record has none
  bool strict = false;                       // a bad record is an error instead of a counted drop
  size_t max_record_bytes = size_t{64} << 20;  // longer records are bad records
  uint32_t shard_index = 0, n_shards = 1;    // keep records whose ordinal % n_shards == shard_index
  // JSONL key whose value becomes Document::category: a top-level key, else a dotted path into nested
  // objects ("meta.task"). Strings as they are, other scalars as JSON ("3", "true"); absent/null or a
  // plain-text input give kNoCategory. Empty = no category.
  std::string category_field = {};
};

inline constexpr const char* kNoCategory = "(none)";

// The category_field value of a parsed JSONL record (rules above).
std::string category_value(const nlohmann::json& record, const std::string& field);

// A byte stream over a file, transparently zstd-decompressed when the file starts with the zstd magic.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; 0 at end of stream.
  virtual Result<size_t> read(char* buf, size_t n) = 0;
  static Result<std::unique_ptr<ByteSource>> open(const std::string& path);
};

class DocumentReader {
 public:
  static Result<std::unique_ptr<DocumentReader>> open(const std::string& path, const ReaderOptions& opt);

  // Fills `doc` with the next document of this shard; returns false at the end. Every record seen
  // (of this shard) is counted in stats(): n_input, and bad ones in n_dropped[kBadRecord]. Good records
  // are *not* counted as kept — the caller decides that.
  Result<bool> next(Document& doc);
  const RecordStats& stats() const { return stats_; }
  RecordStats& stats() { return stats_; }
  const std::string& path() const { return path_; }

 private:
  DocumentReader() = default;
  // The next line without its '\n' (and '\r'); false at end. Lines longer than max_record_bytes are
  // returned truncated with too_long_ set.
  Result<bool> next_line(std::string& line);
  Result<bool> next_jsonl(Document& doc);
  Result<bool> next_text(Document& doc);
  Status bad_record(std::string_view text, uint64_t line, const std::string& why);
  bool mine() { return record_ordinal_++ % opt_.n_shards == opt_.shard_index; }

  std::string path_;
  ReaderOptions opt_;
  bool jsonl_ = true;
  std::unique_ptr<ByteSource> src_;
  std::vector<char> buf_;
  size_t buf_pos_ = 0, buf_len_ = 0;
  bool eof_ = false, too_long_ = false;
  uint64_t line_no_ = 0, record_ordinal_ = 0;
  RecordStats stats_;
};

}  // namespace anvil::data
