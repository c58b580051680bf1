#include "anvil/data/tokenize.h"

#include <xxhash.h>

#include <chrono>
#include <memory>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>

#include "anvil/base/progress.h"
#include "anvil/data/shards.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::data {
namespace fs = std::filesystem;

namespace {

// One split's sequence of shard files.
class ShardSeries {
 public:
  ShardSeries(std::string dir, uint32_t vocab, uint64_t shard_tokens)
      : dir_(std::move(dir)), vocab_(vocab), shard_tokens_(shard_tokens) {}

  Status append(std::span<const uint32_t> ids) {
    while (!ids.empty()) {
      if (!open_) ANVIL_RETURN_IF_ERROR(start());
      const uint64_t room = shard_tokens_ - writer_->count();
      const size_t n = static_cast<size_t>(std::min<uint64_t>(room, ids.size()));
      ANVIL_RETURN_IF_ERROR(writer_->append(ids.first(n)));
      total_ += n;
      ids = ids.subspan(n);
      if (writer_->count() == shard_tokens_) ANVIL_RETURN_IF_ERROR(close());
    }
    return ok_status();
  }

  Status close() {
    if (!open_) return ok_status();
    open_ = false;
    return writer_->finalize();
  }

  uint64_t total() const { return total_; }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  Status start() {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return io_error("[tokenize] cannot create '{}': {}", dir_, ec.message());
    paths_.push_back((fs::path(dir_) / fmt::format("shard-{:05d}.tok", paths_.size())).string());
    writer_ = std::make_unique<TokenShardWriter>();
    ANVIL_RETURN_IF_ERROR(writer_->open(paths_.back(), {.vocab_size = vocab_}));
    open_ = true;
    return ok_status();
  }

  std::string dir_;
  uint32_t vocab_;
  uint64_t shard_tokens_, total_ = 0;
  std::unique_ptr<TokenShardWriter> writer_;
  bool open_ = false;
  std::vector<std::string> paths_;
};

bool is_val(std::string_view text, double val_fraction) {
  const uint64_t h = XXH3_64bits(text.data(), text.size());
  return static_cast<double>(h >> 11) * 0x1.0p-53 < val_fraction;
}

}  // namespace

Result<TokenizeReport> tokenize_corpus(const tok::Tokenizer& tokenizer, const TokenizeOptions& o) {
  if (o.inputs.empty()) return invalid_argument("[tokenize] no input files");
  if (o.val_fraction < 0 || o.val_fraction >= 1)
    return invalid_argument("[tokenize] val_fraction must be in [0, 1), got {}", o.val_fraction);
  std::optional<uint32_t> eos;
  if (!o.eos_token.empty()) {
    eos = tokenizer.token_id(o.eos_token);
    if (!eos) return invalid_argument("[tokenize] the tokenizer has no token '{}' to end documents with "
                                      "(train it with that special token, or pass an empty eos token)", o.eos_token);
  }
  const auto start = std::chrono::steady_clock::now();
  TokenizeReport rep;
  rep.vocab_size = static_cast<uint32_t>(tokenizer.vocab_size());
  ShardSeries train((fs::path(o.out_dir) / "train").string(), rep.vocab_size, o.shard_tokens);
  ShardSeries val((fs::path(o.out_dir) / "val").string(), rep.vocab_size, o.shard_tokens);

  uint64_t total_bytes = 0;
  for (const std::string& f : o.inputs) {
    std::error_code ec;
    total_bytes += fs::file_size(f, ec);
  }
  Progress progress("tokenize", total_bytes, "B", o.show_progress ? stderr : nullptr);

  std::vector<Document> batch;
  std::vector<bool> batch_val;
  size_t batch_text = 0;
  uint64_t read_bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return ok_status();
    std::vector<std::string_view> views;
    views.reserve(batch.size());
    for (const Document& d : batch) views.emplace_back(d.text);
    const tok::EncodedBatch enc = tokenizer.encode_batch(views, {}, o.n_threads);
    for (size_t d = 0; d < batch.size(); ++d) {
      std::span<const uint32_t> ids(enc.ids.data() + enc.offsets[d], enc.offsets[d + 1] - enc.offsets[d]);
      ShardSeries& out = batch_val[d] ? val : train;
      ANVIL_RETURN_IF_ERROR(out.append(ids));
      if (eos) ANVIL_RETURN_IF_ERROR(out.append(std::span<const uint32_t>(&*eos, 1)));
      (batch_val[d] ? rep.val_docs : rep.train_docs) += 1;
    }
    batch.clear();
    batch_val.clear();
    batch_text = 0;
    progress.update(read_bytes);
    return ok_status();
  };

  for (const std::string& f : o.inputs) {
    ANVIL_ASSIGN_OR_RETURN(auto reader, DocumentReader::open(f, o.reader));
    Document doc;
    for (;;) {
      ANVIL_ASSIGN_OR_RETURN(bool more, reader->next(doc));
      if (!more) break;
      read_bytes += doc.text.size();
      rep.stats.add_kept(doc.text.size());
      batch_val.push_back(is_val(doc.text, o.val_fraction));
      batch_text += doc.text.size();
      batch.push_back(std::move(doc));
      doc = Document();
      if (batch_text >= o.batch_bytes) ANVIL_RETURN_IF_ERROR(flush());
    }
    const RecordStats& rs = reader->stats();
    rep.stats.n_input += rs.n_input;
    rep.stats.bytes_input += rs.bytes_input;
    for (size_t r = 0; r < kNumDropReasons; ++r) {
      rep.stats.n_dropped[r] += rs.n_dropped[r];
      rep.stats.bytes_dropped[r] += rs.bytes_dropped[r];
      for (const std::string& e : rs.examples[r])
        if (rep.stats.examples[r].size() < RecordStats::kMaxExamples) rep.stats.examples[r].push_back(e);
    }
  }
  ANVIL_RETURN_IF_ERROR(flush());
  ANVIL_RETURN_IF_ERROR(train.close());
  ANVIL_RETURN_IF_ERROR(val.close());
  progress.finish();
  rep.train_tokens = train.total();
  rep.val_tokens = val.total();
  rep.shards = train.paths();
  rep.shards.insert(rep.shards.end(), val.paths().begin(), val.paths().end());
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

}  // namespace anvil::data
