// `anvil lm`: n-gram language models for CCNet-style perplexity filtering (docs/data.md §perplexity).
//   train  reads text/JSONL (zstd ok), estimates interpolated modified Kneser-Ney (data/kn_lm.h), writes ARPA
//   score  per-document perplexity under an ARPA model (data/arpa_lm.h) as TSV, with a percentile summary
//   info   order, n-gram counts and vocabulary of an ARPA file
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "anvil/base/progress.h"
#include "anvil/cli/command.h"
#include "anvil/data/arpa_lm.h"
#include "anvil/data/kn_lm.h"
#include "anvil/data/prep.h"
#include "anvil/data/reader.h"

namespace anvil::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct ReadArgs {
  std::vector<std::string> inputs;
  std::string format = "auto", text_unit = "blank_line", text_field = "text", id_field = "id";
};

struct LmArgs {
  ReadArgs read;
  int order = 5;
  bool fallback_discounts = false;
  std::string out, model;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Result<data::ReaderOptions> reader_options(const ReadArgs& a) {
  data::ReaderOptions ro;
  ro.format = a.format == "jsonl" ? data::InputFormat::kJsonl
              : a.format == "text" ? data::InputFormat::kText
                                   : data::InputFormat::kAuto;
  ro.text_unit = a.text_unit == "file" ? data::TextUnit::kFile
                 : a.text_unit == "line" ? data::TextUnit::kLine
                                         : data::TextUnit::kBlankLine;
  ro.text_field = a.text_field;
  ro.id_field = a.id_field;
  return ro;
}

void add_read_options(CLI::App* app, ReadArgs& a) {
  app->add_option("--input", a.inputs, "input files: plain text or JSONL, optionally zstd-compressed")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--format", a.format, "auto (by extension: .jsonl/.json[.zst] is JSONL), text or jsonl")
      ->check(CLI::IsMember({"auto", "text", "jsonl"}))
      ->capture_default_str();
  app->add_option("--text-unit", a.text_unit, "plain text: one document per file, blank_line block or line")
      ->check(CLI::IsMember({"file", "blank_line", "line"}))
      ->capture_default_str();
  app->add_option("--jsonl-field", a.text_field, "JSONL field holding the text")->capture_default_str();
  app->add_option("--id-field", a.id_field, "JSONL field holding the document id")->capture_default_str();
}

// Every document of the inputs, in order, to `fn`; bad records are skipped and counted per file on stderr.
template <typename Fn>
Status for_each_document(const ReadArgs& read, const char* command, Fn&& fn) {
  ANVIL_ASSIGN_OR_RETURN(data::ReaderOptions ro, reader_options(read));
  for (const auto& path : read.inputs) {
    ANVIL_ASSIGN_OR_RETURN(auto reader, data::DocumentReader::open(path, ro));
    data::Document doc;
    for (;;) {
      ANVIL_ASSIGN_OR_RETURN(bool more, reader->next(doc));
      if (!more) break;
      fn(doc);
    }
    const uint64_t n_bad = reader->stats().n_dropped[static_cast<size_t>(data::DropReason::kBadRecord)];
    if (n_bad > 0)
      std::fprintf(stderr, "%s: '%s': %llu bad records skipped\n", command, path.c_str(),
                   static_cast<unsigned long long>(n_bad));
  }
  return ok_status();
}

Status run_train(const LmArgs& a) {
  data::KnLm lm({.order = a.order, .force_fallback = a.fallback_discounts});
  const auto t0 = Clock::now();
  uint64_t n_docs = 0, n_bytes = 0;
  Progress progress("lm train: counting", 0, "docs");
  ANVIL_RETURN_IF_ERROR(for_each_document(a.read, "anvil lm train", [&](const data::Document& doc) {
    lm.add_text(doc.text);
    ++n_docs, n_bytes += doc.text.size();
    if (n_docs % 1024 == 0) {
      progress.set_note(fmt::format("{:.1f} MB, {} words", n_bytes / 1e6, human_count(static_cast<double>(lm.vocab_size()))));
      progress.update(n_docs);
    }
  }));
  progress.finish();
  std::fprintf(stderr, "anvil lm train: estimating modified Kneser-Ney (order %d) over %llu lines\n", a.order,
               static_cast<unsigned long long>(lm.n_lines()));
  ANVIL_RETURN_IF_ERROR(lm.finish());
  const auto t_write = Clock::now();
  ANVIL_RETURN_IF_ERROR(lm.write_arpa_file(a.out));
  std::fprintf(stderr, "anvil lm train: %llu docs (%.1f MB), %zu words; wrote '%s' in %.1f s (total %.1f s)\n",
               static_cast<unsigned long long>(n_docs), n_bytes / 1e6, lm.vocab_size(), a.out.c_str(),
               seconds_since(t_write), seconds_since(t0));
  for (int n = 1; n <= lm.order(); ++n) {
    const auto d = lm.discounts(n);
    std::fprintf(stderr, "  %d-grams: %llu  discounts D1 %.3f D2 %.3f D3+ %.3f\n", n,
                 static_cast<unsigned long long>(n == 1 ? lm.vocab_size() : lm.n_grams(n)), d[0], d[1], d[2]);
  }
  return ok_status();
}

Status run_score(const LmArgs& a) {
  ANVIL_RETURN_IF_ERROR(reader_options(a.read).status());  // bad reader settings fail before the model loads
  const auto t_load = Clock::now();
  ANVIL_ASSIGN_OR_RETURN(data::ArpaLm lm, data::ArpaLm::load(a.model));
  std::fprintf(stderr, "anvil lm score: '%s': order %d, %zu words, loaded in %.1f s\n", a.model.c_str(), lm.order(),
               lm.vocab_size(), seconds_since(t_load));
  std::vector<double> pps;
  uint64_t n_empty = 0, n_bytes = 0;
  Progress progress("lm score", 0, "docs");
  std::printf("id\tperplexity\ttokens\n");
  ANVIL_RETURN_IF_ERROR(for_each_document(a.read, "anvil lm score", [&](const data::Document& doc) {
    const auto [lp, n] = lm.log10_prob(doc.text);
    n_bytes += doc.text.size();
    if (n == 0) {
      ++n_empty;
      std::printf("%s\t\t0\n", doc.id.c_str());
    } else {
      const double pp = std::pow(10.0, -lp / static_cast<double>(n));
      pps.push_back(pp);
      std::printf("%s\t%.1f\t%llu\n", doc.id.c_str(), pp, static_cast<unsigned long long>(n));
    }
    progress.update(pps.size() + n_empty);
  }));
  progress.finish();
  std::fprintf(stderr, "anvil lm score: %zu documents scored (%.1f MB), %llu without words\n", pps.size(),
               n_bytes / 1e6, static_cast<unsigned long long>(n_empty));
  if (!pps.empty()) {
    std::fprintf(stderr, "  percentiles of perplexity (nearest rank):");
    for (double p : {0.1, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0}) {
      std::fprintf(stderr, " p%.0f=%.1f", p * 100, data::percentile_threshold(pps, p));
    }
    std::fprintf(stderr, "\n");
  }
  return ok_status();
}

Status run_info(const LmArgs& a) {
  const auto t_load = Clock::now();
  ANVIL_ASSIGN_OR_RETURN(data::ArpaLm lm, data::ArpaLm::load(a.model));
  std::printf("model: %s\norder: %d\nvocabulary: %zu words (<unk> %s)\n", a.model.c_str(), lm.order(), lm.vocab_size(),
              lm.has_unk() ? "listed" : "missing: scored at -100");
  for (int n = 1; n <= lm.order(); ++n) {
    std::printf("%d-grams: %llu\n", n, static_cast<unsigned long long>(lm.n_grams(n)));
  }
  std::printf("memory: %.1f MiB\nload time: %.2f s\n", lm.memory_bytes() / 1048576.0, seconds_since(t_load));
  return ok_status();
}

}  // namespace

Command register_lm(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<LmArgs>();
  Command c;
  c.app = app.add_subcommand(
      "lm",
      "n-gram language models for perplexity filtering (CCNet-style).\n"
      "Words are lower-cased, digits become 0 and punctuation is removed; each line is a sentence <s> … </s>.\n"
      "Perplexity of a document = 10^(−Σ log10 p / Σ (words + 1)) over its lines, as in cc_net.");
  c.app->require_subcommand(1);
  auto* train = c.app->add_subcommand(
      "train",
      "Estimate an interpolated modified Kneser-Ney model (discounts from count-of-counts, as lmplz) and write it\n"
      "as an ARPA file (\\data\\ counts, \\N-grams: log10 p, words, log10 backoff; <s> <unk> </s>), readable by\n"
      "KenLM and SRILM and by `anvil lm score` and `anvil prep` ([perplexity] model).");
  add_read_options(train, args->read);
  train->add_option("--order", args->order, "n-gram order")->check(CLI::Range(1, data::KnLm::kMaxOrder))->capture_default_str();
  train->add_flag("--fallback-discounts", args->fallback_discounts,
                  "always use KenLM's fallback discounts 0.5/1/1.5 (tiny corpora)");
  train->add_option("--out", args->out, "output ARPA file (written atomically)")->required();
  auto* score = c.app->add_subcommand(
      "score",
      "Print one line per document to stdout: id <tab> perplexity <tab> tokens (words + </s>), and on stderr the\n"
      "percentiles of the scores (p30/p60 are CCNet's head/middle cut-offs; use one as [perplexity]\n"
      "max_perplexity, or set keep_percentile).");
  add_read_options(score, args->read);
  score->add_option("--model", args->model, "ARPA file (plain or zstd)")->required()->check(CLI::ExistingFile);
  auto* info = c.app->add_subcommand("info", "Print the order, n-gram counts, vocabulary and memory of an ARPA model.");
  info->add_option("--model", args->model, "ARPA file (plain or zstd)")->required()->check(CLI::ExistingFile);
  c.run = [args, train, score, info] {
    Status s;
    if (train->parsed()) s = run_train(*args);
    else if (score->parsed()) s = run_score(*args);
    else if (info->parsed()) s = run_info(*args);
    if (s.ok()) return 0;
    return report_failure("lm", s);
  };
  return c;
}

}  // namespace anvil::cli
