// Sliding-window perplexity and bits-per-byte (perplexity.h, method-specs §9.4).
#include "anvil/eval/perplexity.h"

#include <cmath>
#include <limits>
#include <optional>

#include "anvil/base/progress.h"
#include "anvil/base/sysinfo.h"
#include "anvil/data/reader.h"
#include "anvil/data/shards.h"

namespace anvil::eval {
namespace {

constexpr size_t kRowsPerGroup = 64;  // windows held at once (bounds memory on long shards)

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void finish(PplResult& r) {
  r.ppl = r.n_tokens > 0 ? std::exp(r.nll / static_cast<double>(r.n_tokens)) : std::numeric_limits<double>::infinity();
  r.bpb = r.n_bytes > 0 ? r.nll_bytes / (std::log(2.0) * static_cast<double>(r.n_bytes))
                        : std::numeric_limits<double>::infinity();
  r.byte_perplexity = r.n_bytes > 0 ? std::exp(r.nll_bytes / static_cast<double>(r.n_bytes))
                                    : std::numeric_limits<double>::infinity();
  r.word_perplexity = r.n_words > 0 ? std::exp(r.nll / static_cast<double>(r.n_words)) : 0.0;
}

}  // namespace

int64_t count_words(std::string_view text) {
  int64_t n = 1;
  for (size_t i = 0; i < text.size();) {
    if (is_space(static_cast<unsigned char>(text[i]))) {
      ++n;
      while (i < text.size() && is_space(static_cast<unsigned char>(text[i]))) ++i;
    } else {
      ++i;
    }
  }
  return n;
}

Result<PplResult> perplexity_of_docs(LmScorer& lm, std::span<const std::vector<int32_t>> docs, bool prefix_eot,
                                     const PplOptions& opt) {
  const double t0 = wall_seconds();
  PplResult r;
  r.window = opt.window > 0 ? opt.window : lm.max_length();
  r.stride = opt.stride > 0 ? opt.stride : r.window;
  if (r.window > lm.max_length()) {
    return invalid_argument("[eval.ppl] window {} exceeds the model's context {}", r.window, lm.max_length());
  }
  if (r.stride > r.window) return invalid_argument("[eval.ppl] stride {} exceeds window {}", r.stride, r.window);
  if (prefix_eot && !lm.eot()) return invalid_argument("[eval.ppl] prefix_eot needs an end-of-text token");
  const tok::Tokenizer& tk = lm.tokenizer();
  // A window is (doc, s, a, b): input y[s, b-1), targets y[a, b), target t read at position t-1-s.
  struct Window {
    size_t doc;
    int64_t s, a;
  };
  std::vector<std::vector<int32_t>> ys(docs.size());
  std::vector<Window> windows;
  int64_t n_targets = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    auto& y = ys[d];
    if (prefix_eot) y.push_back(*lm.eot());
    y.insert(y.end(), docs[d].begin(), docs[d].end());
    if (docs[d].empty()) continue;
    r.n_docs += 1;
    r.n_unscored += prefix_eot ? 0 : 1;
    const int64_t n = static_cast<int64_t>(y.size());
    for (int64_t a = 1; a < n; a += r.stride) {
      const int64_t b = std::min(a + r.stride, n);
      windows.push_back({d, std::max<int64_t>(0, b - 1 - r.window), a});
      n_targets += b - a;
    }
  }
  std::optional<Progress> progress;
  if (opt.progress) progress.emplace("ppl", static_cast<uint64_t>(n_targets), "tokens");
  for (size_t g = 0; g < windows.size(); g += kRowsPerGroup) {
    const size_t g_end = std::min(windows.size(), g + kRowsPerGroup);
    std::vector<Row> rows;
    int64_t group_targets = 0;
    for (size_t w = g; w < g_end; ++w) {
      const Window& win = windows[w];
      const auto& y = ys[win.doc];
      const int64_t b = std::min(win.a + r.stride, static_cast<int64_t>(y.size()));
      Row row{.ids = std::vector<int32_t>(y.begin() + win.s, y.begin() + (b - 1)), .positions = {}};
      for (int64_t t = win.a; t < b; ++t) row.positions.push_back(static_cast<int32_t>(t - 1 - win.s));
      group_targets += b - win.a;
      rows.push_back(std::move(row));
    }
    ANVIL_RETURN_IF_ERROR(lm.run_rows(rows, [&](size_t row, int32_t pos, std::span<const float> lp) {
      const Window& win = windows[g + row];
      const int32_t target = ys[win.doc][static_cast<size_t>(win.s + pos + 1)];
      const double nll = -static_cast<double>(lp[static_cast<size_t>(target)]);
      r.nll += nll;
      r.n_tokens += 1;
      const uint32_t id = static_cast<uint32_t>(target);
      if (id < tk.vocab_size() && !tk.is_special(id)) {
        r.nll_bytes += nll;
        r.n_bytes += static_cast<int64_t>(tk.token_bytes(id).size());
      }
    }));
    if (progress) progress->add(static_cast<uint64_t>(group_targets));
  }
  if (progress) progress->finish();
  finish(r);
  r.seconds = wall_seconds() - t0;
  return r;
}

Result<PplResult> perplexity_of_text(LmScorer& lm, const std::string& path, const PplOptions& opt) {
  data::ReaderOptions ro{.text_unit = data::TextUnit::kFile, .strict = true};
  ANVIL_ASSIGN_OR_RETURN(auto reader, data::DocumentReader::open(path, ro));
  std::vector<std::vector<int32_t>> docs;
  int64_t n_words = 0;
  data::Document doc;
  while (opt.max_docs == 0 || static_cast<int64_t>(docs.size()) < opt.max_docs) {
    ANVIL_ASSIGN_OR_RETURN(bool more, reader->next(doc));
    if (!more) break;
    if (doc.text.empty()) continue;
    n_words += count_words(doc.text);
    docs.push_back(lm.encode(doc.text));
  }
  if (docs.empty()) return invalid_argument("[eval.ppl] '{}' holds no non-empty document", path);
  ANVIL_ASSIGN_OR_RETURN(PplResult r, perplexity_of_docs(lm, docs, lm.eot().has_value(), opt));
  r.source = path;
  r.n_words = n_words;
  finish(r);
  return r;
}

Result<PplResult> perplexity_of_shard(LmScorer& lm, const std::string& path, const PplOptions& opt) {
  ANVIL_ASSIGN_OR_RETURN(data::TokenShard shard, data::TokenShard::open(path));
  if (static_cast<int64_t>(shard.vocab_size()) > lm.vocab_size()) {
    return invalid_argument("[eval.ppl] shard '{}' has vocab_size {} but the model {}", path, shard.vocab_size(),
                            lm.vocab_size());
  }
  const uint64_t n = opt.max_tokens > 0 ? std::min<uint64_t>(shard.size(), static_cast<uint64_t>(opt.max_tokens))
                                        : shard.size();
  if (n < 2) return invalid_argument("[eval.ppl] shard '{}' has {} tokens; at least 2 are needed", path, n);
  std::vector<uint32_t> ids(n);
  ANVIL_RETURN_IF_ERROR(shard.read(0, ids));
  std::vector<std::vector<int32_t>> docs(1);
  docs[0].assign(ids.begin(), ids.end());
  ANVIL_ASSIGN_OR_RETURN(PplResult r, perplexity_of_docs(lm, docs, false, opt));
  r.source = path;
  return r;
}

}  // namespace anvil::eval
