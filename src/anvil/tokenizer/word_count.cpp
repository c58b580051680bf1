// Parallel word counting for BPE training (see trainer.h): read a chunk, split it at newlines into one
// part per thread, pre-tokenize and count each part into that thread's table, merge the tables at the end.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "anvil/tokenizer/trainer.h"

namespace anvil::tok {
namespace {

void prune_to_cap(WordCounter& c, size_t cap, CountStats& stats) {
  if (c.size() <= cap) return;
  uint64_t t = 1;
  while (c.size() > cap / 2) {
    c.prune(t);
    stats.prune_threshold = std::max(stats.prune_threshold, t);
    t *= 2;
  }
  ++stats.n_prunes;
}

}  // namespace

void count_words_in_text(std::string_view text, const PreTokenizerConfig& cfg, WordCounter& out) {
  pretokenize(cfg, text, [&](size_t b, size_t e) { out.add(text.substr(b, e - b)); });
}

Result<CountStats> count_words(std::span<const std::string> inputs, const TrainerConfig& cfg, WordCounter& out) {
  ANVIL_RETURN_IF_ERROR(validate_trainer_config(cfg));
  const int n_threads = cfg.n_threads > 0 ? cfg.n_threads : omp_get_max_threads();
  std::vector<WordCounter> local(n_threads);
  std::vector<uint64_t> local_pieces(n_threads, 0);
  CountStats stats;
  const size_t cap_per_thread = std::max<size_t>(cfg.max_words / n_threads, 1024);
  const auto t0 = std::chrono::steady_clock::now();
  auto last_report = t0;
  std::string buf;
  for (const std::string& path : inputs) {
    FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (!f) return io_error("[tokenizer.train] cannot open input '{}': {}", path, std::strerror(errno));
    std::string carry;
    bool eof = false;
    while (!eof) {
      buf = std::move(carry);
      carry.clear();
      const size_t have = buf.size();
      buf.resize(have + cfg.chunk_bytes);
      const size_t got = std::fread(buf.data() + have, 1, cfg.chunk_bytes, f);
      buf.resize(have + got);
      if (got < cfg.chunk_bytes) {
        if (std::ferror(f)) {
          if (f != stdin) std::fclose(f);
          return io_error("[tokenizer.train] read error in '{}' after {} bytes", path, stats.n_bytes);
        }
        eof = true;
      }
      if (!eof) {  // keep the tail after the last newline for the next chunk
        size_t cut = buf.rfind('\n');
        if (cut != std::string::npos && cut + 1 < buf.size()) {
          carry.assign(buf, cut + 1, std::string::npos);
          buf.resize(cut + 1);
        }
      }
      stats.n_bytes += buf.size();
      // one part per thread, each ending after a newline where possible
      std::vector<size_t> bounds(n_threads + 1, buf.size());
      bounds[0] = 0;
      for (int k = 1; k < n_threads; ++k) {
        size_t target = std::max(bounds[k - 1], buf.size() * k / n_threads);
        size_t nl = buf.find('\n', target);
        bounds[k] = nl == std::string::npos ? buf.size() : nl + 1;
      }
      const std::string_view all(buf);
#pragma omp parallel num_threads(n_threads)
      {
        const int k = omp_get_thread_num();
        const std::string_view part = all.substr(bounds[k], bounds[k + 1] - bounds[k]);
        WordCounter& c = local[k];
        uint64_t n = 0;
        pretokenize(cfg.pretokenizer, part, [&](size_t b, size_t e) { c.add(part.substr(b, e - b)); ++n; });
        local_pieces[k] += n;
      }
      for (WordCounter& c : local) prune_to_cap(c, cap_per_thread, stats);
      const auto now = std::chrono::steady_clock::now();
      if (cfg.progress == ProgressOutput::kStderr && now - last_report > std::chrono::milliseconds(500)) {
        const double s = std::chrono::duration<double>(now - t0).count();
        std::fprintf(stderr, "\r[tokenizer.train] counting: %.1f MB read, %.1f MB/s", stats.n_bytes / 1e6,
                     stats.n_bytes / 1e6 / s);
        last_report = now;
      }
    }
    if (f != stdin) std::fclose(f);
  }
  for (int k = 0; k < n_threads; ++k) {
    stats.n_pieces += local_pieces[k];
    if (k == 0 && out.size() == 0) out = std::move(local[0]);
    else out.merge_from(local[k]);
    local[k].clear();
    prune_to_cap(out, cfg.max_words, stats);
  }
  if (cfg.progress == ProgressOutput::kStderr) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\r[tokenizer.train] counted %.1f MB in %.2f s: %llu pieces, %zu distinct words\n",
                 stats.n_bytes / 1e6, s, static_cast<unsigned long long>(stats.n_pieces), out.size());
  }
  return stats;
}

}  // namespace anvil::tok
