// Streaming readers (reader.h): a FILE*-backed or zstd-decompressing ByteSource, a line splitter over
// a fixed 1 MiB buffer, and the JSONL / plain-text record rules.
#include "anvil/data/reader.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <zstd.h>

namespace anvil::data {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;
constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

class FileSource : public ByteSource {
 public:
  FileSource(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  ~FileSource() override { std::fclose(f_); }
  Result<size_t> read(char* buf, size_t n) override {
    const size_t got = std::fread(buf, 1, n, f_);
    if (got < n && std::ferror(f_)) return io_error("[reader] reading '{}': {}", path_, std::strerror(errno));
    return got;
  }

 private:
  std::FILE* f_;
  std::string path_;
};

class ZstdSource : public ByteSource {
 public:
  ZstdSource(std::unique_ptr<ByteSource> raw, std::string path)
      : raw_(std::move(raw)), path_(std::move(path)), in_buf_(ZSTD_DStreamInSize()), ds_(ZSTD_createDStream()) {
    ZSTD_initDStream(ds_);
  }
  ~ZstdSource() override { ZSTD_freeDStream(ds_); }
  Result<size_t> read(char* buf, size_t n) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos == 0) {
      if (in_.pos == in_.size) {
        ANVIL_ASSIGN_OR_RETURN(size_t got, raw_->read(in_buf_.data(), in_buf_.size()));
        if (got == 0) {
          if (!frame_done_) return invalid_argument("[reader] '{}': zstd stream is truncated", path_);
          return size_t{0};
        }
        in_ = {in_buf_.data(), got, 0};
      }
      const size_t r = ZSTD_decompressStream(ds_, &out, &in_);
      if (ZSTD_isError(r)) return invalid_argument("[reader] '{}': zstd: {}", path_, ZSTD_getErrorName(r));
      frame_done_ = r == 0;
    }
    return out.pos;
  }

 private:
  std::unique_ptr<ByteSource> raw_;
  std::string path_;
  std::vector<char> in_buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  ZSTD_DStream* ds_;
  bool frame_done_ = true;
};

bool is_blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

Result<std::unique_ptr<ByteSource>> ByteSource::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return not_found("[reader] cannot open '{}': {}", path, std::strerror(errno));
  unsigned char magic[4] = {0, 0, 0, 0};
  const size_t n = std::fread(magic, 1, 4, f);
  std::rewind(f);
  auto raw = std::make_unique<FileSource>(f, path);
  if (n == 4 && std::memcmp(magic, kZstdMagic, 4) == 0) {
    return std::unique_ptr<ByteSource>(std::make_unique<ZstdSource>(std::move(raw), path));
  }
  return std::unique_ptr<ByteSource>(std::move(raw));
}

Result<std::unique_ptr<DocumentReader>> DocumentReader::open(const std::string& path, const ReaderOptions& opt) {
  if (opt.n_shards == 0 || opt.shard_index >= opt.n_shards) {
    return invalid_argument("[reader] shard {}/{} is not a valid shard (need 0 <= i < N)", opt.shard_index,
                            opt.n_shards);
  }
  std::unique_ptr<DocumentReader> r(new DocumentReader());
  r->path_ = path;
  r->opt_ = opt;
  if (opt.format == InputFormat::kAuto) {
    std::string p = path;
    if (ends_with(p, ".zst")) p.resize(p.size() - 4);
    r->jsonl_ = ends_with(p, ".jsonl") || ends_with(p, ".json") || ends_with(p, ".ndjson");
  } else {
    r->jsonl_ = opt.format == InputFormat::kJsonl;
  }
  ANVIL_ASSIGN_OR_RETURN(r->src_, ByteSource::open(path));
  r->buf_.resize(kReadChunk);
  return r;
}

Result<bool> DocumentReader::next_line(std::string& line) {
  line.clear();
  too_long_ = false;
  bool any = false;
  for (;;) {
    if (buf_pos_ == buf_len_) {
      if (eof_) break;
      ANVIL_ASSIGN_OR_RETURN(buf_len_, src_->read(buf_.data(), buf_.size()));
      buf_pos_ = 0;
      if (buf_len_ == 0) {
        eof_ = true;
        break;
      }
    }
    any = true;
    const char* start = buf_.data() + buf_pos_;
    const size_t avail = buf_len_ - buf_pos_;
    const void* nl = std::memchr(start, '\n', avail);
    const size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : avail;
    if (line.size() + take > opt_.max_record_bytes) {
      too_long_ = true;
      line.append(start, opt_.max_record_bytes - std::min(line.size(), opt_.max_record_bytes));
    } else if (!too_long_) {
      line.append(start, take);
    }
    buf_pos_ += take;
    if (nl) {
      ++buf_pos_;
      break;
    }
  }
  if (!any) return false;
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

Status DocumentReader::bad_record(std::string_view text, uint64_t line, const std::string& why) {
  const std::string where = fmt::format("{}:{}: {}", path_, line, why);
  if (opt_.strict) return invalid_argument("[reader] {}", where);
  stats_.add_dropped(DropReason::kBadRecord, text, where);
  return ok_status();
}

Result<bool> DocumentReader::next(Document& doc) {
  return jsonl_ ? next_jsonl(doc) : next_text(doc);
}

std::string category_value(const nlohmann::json& record, const std::string& field) {
  const nlohmann::json* v = nullptr;
  if (auto it = record.find(field); it != record.end()) {
    v = &*it;
  } else if (field.find('.') != std::string::npos) {
    v = &record;
    for (size_t start = 0; v;) {
      const size_t dot = field.find('.', start);
      const std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      auto it = v->is_object() ? v->find(key) : v->end();
      v = v->is_object() && it != v->end() ? &*it : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  if (!v || v->is_null()) return kNoCategory;
  return v->is_string() ? v->get<std::string>() : v->dump();
}

Result<bool> DocumentReader::next_jsonl(Document& doc) {
  std::string line;
  for (;;) {
    ANVIL_ASSIGN_OR_RETURN(bool more, next_line(line));
    if (!more) return false;
    if (is_blank(line)) continue;  // blank lines are not records
    if (!mine()) continue;
    stats_.add_input(line.size());
    if (too_long_) {
      ANVIL_RETURN_IF_ERROR(bad_record(line, line_no_, fmt::format("record longer than {} bytes", opt_.max_record_bytes)));
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      ANVIL_RETURN_IF_ERROR(bad_record(line, line_no_, "invalid JSON"));
      continue;
    }
    if (!j.is_object()) {
      ANVIL_RETURN_IF_ERROR(bad_record(line, line_no_, "not a JSON object"));
      continue;
    }
    auto t = j.find(opt_.text_field);
    if (t == j.end() || !t->is_string()) {
      ANVIL_RETURN_IF_ERROR(bad_record(line, line_no_, fmt::format("no string field '{}'", opt_.text_field)));
      continue;
    }
    doc.text = t->get<std::string>();
    auto id = j.find(opt_.id_field);
    if (id != j.end() && id->is_string()) {
      doc.id = id->get<std::string>();
    } else if (id != j.end() && id->is_number()) {
      doc.id = id->dump();
    } else {
      doc.id = fmt::format("{}:{}", std::filesystem::path(path_).filename().string(), line_no_);
    }
    auto src = j.find("source");
    doc.source = src != j.end() && src->is_string() ? src->get<std::string>() : opt_.source;
    if (!opt_.category_field.empty()) doc.category = category_value(j, opt_.category_field);
    auto meta = j.find("meta");
    doc.meta = meta != j.end() && meta->is_object() ? std::move(*meta) : nlohmann::json::object();
    return true;
  }
}

Result<bool> DocumentReader::next_text(Document& doc) {
  std::string line;
  const std::string base = std::filesystem::path(path_).filename().string();
  for (;;) {
    doc.text.clear();
    uint64_t first_line = 0;
    bool long_record = false;
    for (;;) {
      ANVIL_ASSIGN_OR_RETURN(bool more, next_line(line));
      if (!more) break;
      if (opt_.text_unit != TextUnit::kFile && is_blank(line)) {
        if (first_line == 0) continue;  // blank lines before a block
        break;
      }
      if (first_line == 0) first_line = line_no_;
      long_record |= too_long_ || doc.text.size() + line.size() + 1 > opt_.max_record_bytes;
      if (!long_record) {
        if (!doc.text.empty() || (opt_.text_unit == TextUnit::kFile && line_no_ > 1)) doc.text += '\n';
        doc.text += line;
      }
      if (opt_.text_unit == TextUnit::kLine) break;
    }
    if (first_line == 0) return false;  // nothing but blank lines (or nothing) left
    if (!mine()) continue;
    stats_.add_input(doc.text.size());
    if (long_record) {
      ANVIL_RETURN_IF_ERROR(
          bad_record(doc.text, first_line, fmt::format("record longer than {} bytes", opt_.max_record_bytes)));
      continue;
    }
    doc.id = fmt::format("{}:{}", base, first_line);
    doc.source = opt_.source;
    doc.meta = nlohmann::json::object();
    if (!opt_.category_field.empty()) doc.category = kNoCategory;
    return true;
  }
}

}  // namespace anvil::data
