// `anvil tokenize --tokenizer T --input FILES... --out DIR`: a corpus (JSONL or text, zstd or not) into
// train/val token shards (docs/formats/token_shards.md) for `anvil train`, with a report of what was
// read, dropped (unreadable records, with file:line) and written.
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/cli/command.h"
#include "anvil/data/tokenize.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::cli {

Command register_tokenize(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::string tokenizer, out, format = "auto", text_unit = "blank-line", text_field = "text";
    std::vector<std::string> inputs;
    double val_fraction = 0.01;
    std::string eos = "<|endoftext|>";
  };
  auto a = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("tokenize", "Encode a corpus into train/val token shards for `anvil train`");
  c.app->footer(
      "Each document is followed by the end-of-text token. A document goes to val/ when a hash of its text\n"
      "falls below --val-fraction, so the split does not depend on file order. Writes DIR/train/*.tok,\n"
      "DIR/val/*.tok and DIR/tokenize_report.json.");
  c.app->add_option("--tokenizer", a->tokenizer, "tokenizer.json (anvil tokenizer train, or Hugging Face)")->required();
  c.app->add_option("--input", a->inputs, "JSONL or text files, optionally zstd-compressed")->required();
  c.app->add_option("--out", a->out, "output directory")->required();
  c.app->add_option("--val-fraction", a->val_fraction, "share of documents held out for validation")->capture_default_str();
  c.app->add_option("--format", a->format, "auto (by extension) | jsonl | text")->capture_default_str();
  c.app->add_option("--text-unit", a->text_unit, "plain text documents: file | blank-line | line")->capture_default_str();
  c.app->add_option("--text-field", a->text_field, "JSONL field holding the text")->capture_default_str();
  c.app->add_option("--eos", a->eos, "token appended after each document (\"\" = none)")->capture_default_str();

  c.run = [a, &g]() -> int {
    data::TokenizeOptions o;
    o.inputs = a->inputs;
    o.out_dir = a->out;
    o.val_fraction = a->val_fraction;
    o.eos_token = a->eos;
    o.n_threads = g.threads;
    o.reader.text_field = a->text_field;
    if (a->format == "auto") o.reader.format = data::InputFormat::kAuto;
    else if (a->format == "jsonl") o.reader.format = data::InputFormat::kJsonl;
    else if (a->format == "text") o.reader.format = data::InputFormat::kText;
    else {
      std::fprintf(stderr, "anvil tokenize: --format must be auto, jsonl or text, got '%s'\n", a->format.c_str());
      return 2;
    }
    if (a->text_unit == "file") o.reader.text_unit = data::TextUnit::kFile;
    else if (a->text_unit == "blank-line") o.reader.text_unit = data::TextUnit::kBlankLine;
    else if (a->text_unit == "line") o.reader.text_unit = data::TextUnit::kLine;
    else {
      std::fprintf(stderr, "anvil tokenize: --text-unit must be file, blank-line or line, got '%s'\n", a->text_unit.c_str());
      return 2;
    }
    Context ctx = make_cli_context(g);
    auto tok = tok::load_tokenizer_json(a->tokenizer);
    if (!tok.ok()) return report_failure("tokenize", tok.status());
    auto rep = data::tokenize_corpus(*tok, o);
    if (!rep.ok()) return report_failure("tokenize", rep.status());
    const data::RecordStats& st = rep->stats;
    nlohmann::json dropped = nlohmann::json::object();
    for (size_t r = 0; r < data::kNumDropReasons; ++r)
      if (st.n_dropped[r] > 0)
        dropped[data::drop_reason_name(static_cast<data::DropReason>(r))] = {{"count", st.n_dropped[r]}, {"examples", st.examples[r]}};
    const nlohmann::json report = {{"tokenizer", a->tokenizer}, {"inputs", a->inputs}, {"vocab_size", rep->vocab_size},
                                   {"documents_read", st.n_input}, {"documents_encoded", st.n_kept},
                                   {"bytes_encoded", st.bytes_kept}, {"dropped", dropped},
                                   {"train_documents", rep->train_docs}, {"val_documents", rep->val_docs},
                                   {"train_tokens", rep->train_tokens}, {"val_tokens", rep->val_tokens},
                                   {"bytes_per_token", rep->train_tokens + rep->val_tokens > 0
                                        ? static_cast<double>(st.bytes_kept) / static_cast<double>(rep->train_tokens + rep->val_tokens) : 0.0},
                                   {"shards", rep->shards}, {"seconds", rep->seconds}};
    if (Status s = write_file_atomic((std::filesystem::path(a->out) / "tokenize_report.json").string(), report.dump(2) + "\n"); !s.ok())
      return report_failure("tokenize", s);
    std::printf("%llu documents -> %llu train + %llu val tokens (%.2f bytes/token) in %.1f s; %llu unreadable records\n",
                static_cast<unsigned long long>(st.n_kept), static_cast<unsigned long long>(rep->train_tokens),
                static_cast<unsigned long long>(rep->val_tokens), report["bytes_per_token"].get<double>(), rep->seconds,
                static_cast<unsigned long long>(st.n_dropped_total()));
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
