// `anvil tokenizer train|encode|decode|info|import`: byte-level BPE from the command line. Parsing,
// file handling and printing only; the work is in anvil/tokenizer (docs/tokenizer.md).
#include <chrono>
#include <cstdio>
#include <cstring>

#include "anvil/base/file.h"
#include "anvil/cli/command.h"
#include "anvil/tokenizer/formats.h"
#include "anvil/tokenizer/trainer.h"

namespace anvil::cli {
namespace {

using namespace anvil::tok;

// Where a tokenizer comes from: tokenizer.json, GPT-2 files, or a tiktoken rank file.
struct Source {
  std::string json;
  std::vector<std::string> gpt2;  // encoder.json vocab.bpe
  std::string tiktoken;
  std::string pattern = "gpt2";
  bool split_digits = false;
  bool drop_missing_bytes = false;
  std::vector<std::string> specials = {"<|endoftext|>"};
};

void add_source_options(CLI::App* app, Source& s) {
  auto* j = app->add_option("--tokenizer", s.json, "Hugging Face tokenizer.json (byte-level BPE)");
  auto* g = app->add_option("--gpt2", s.gpt2, "GPT-2 files: ENCODER.json VOCAB.bpe")->expected(2);
  auto* t = app->add_option("--tiktoken", s.tiktoken, "tiktoken rank file (base64 token + rank per line)");
  j->excludes(g)->excludes(t);
  g->excludes(t);
  app->add_option("--pattern", s.pattern, "pre-tokenizer for --gpt2/--tiktoken: gpt2 | cl100k")
      ->check(CLI::IsMember({"gpt2", "cl100k"}))->capture_default_str();
  app->add_flag("--split-digits", s.split_digits, "for --gpt2/--tiktoken: every digit its own piece");
  app->add_flag("--drop-missing-bytes", s.drop_missing_bytes,
                "load a tokenizer.json that lacks some single-byte tokens; those bytes are dropped (as HF does)");
  app->add_option("--import-special", s.specials,
                  "for --gpt2/--tiktoken: special tokens (tiktoken: TEXT or TEXT=ID, appended after the ranks)")
      ->capture_default_str();
}

Result<Tokenizer> load_source(const Source& s) {
  ImportOptions opt{.pretokenizer = {.pattern = s.pattern == "cl100k" ? Pattern::kCl100k : Pattern::kGpt2,
                                     .digits = s.split_digits ? DigitSplit::kIndividual : DigitSplit::kNone},
                    .special_tokens = s.specials};
  if (!s.json.empty())
    return load_tokenizer_json(s.json, s.drop_missing_bytes ? MissingBytes::kDrop : MissingBytes::kError);
  if (s.gpt2.size() == 2) return import_gpt2(s.gpt2[0], s.gpt2[1], opt);
  if (!s.tiktoken.empty()) return import_tiktoken(s.tiktoken, opt);
  return invalid_argument("[tokenizer] give one of --tokenizer, --gpt2 or --tiktoken");
}

Status write_output(const std::string& path, std::string_view data) {
  if (path.empty() || path == "-") {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size())
      return io_error("[tokenizer] writing {} bytes to stdout failed", data.size());
    return ok_status();
  }
  return write_file_atomic(path, data);
}

Result<std::string> read_input(const std::string& path) {
  if (path != "-") return read_file(path);
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) text.append(buf, n);
  if (std::ferror(stdin)) return io_error("[tokenizer] reading stdin failed after {} bytes", text.size());
  return text;
}

Command tok_train(CLI::App& parent, const GlobalOptions& g) {
  struct Opts {
    std::vector<std::string> inputs;
    std::string out;
    size_t vocab_size = 32768;
    uint64_t min_frequency = 2;
    size_t max_token_length = 0;
    std::vector<std::string> specials = {"<|endoftext|>", "<think>", "</think>"};
    std::string pattern = "gpt2";
    bool split_digits = false;
    size_t max_words = size_t{1} << 24;
    std::string merges_form = "pairs";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  Command c;
  c.app = parent.add_subcommand("train",
                                "Train a byte-level BPE tokenizer and write it as Hugging Face tokenizer.json.\n"
                                "Ids: 0..255 are the bytes, then one id per merge, then the special tokens.\n"
                                "Ties between equally frequent pairs go to the smallest (left id, right id).");
  c.app->add_option("--input", o->inputs, "text files to learn from ('-' = stdin)")->required();
  c.app->add_option("--out", o->out, "tokenizer.json to write")->required();
  c.app->add_option("--vocab-size", o->vocab_size, "tokens in all: 256 bytes + merges + special tokens")
      ->capture_default_str();
  c.app->add_option("--min-frequency", o->min_frequency, "stop when the best pair occurs fewer times")->capture_default_str();
  c.app->add_option("--max-token-length", o->max_token_length, "longest merged token in bytes (0 = no limit)")
      ->capture_default_str();
  c.app->add_option("--special", o->specials, "special tokens, matched before pre-tokenization")->capture_default_str();
  c.app->add_option("--pattern", o->pattern, "pre-tokenizer regex: gpt2 | cl100k")
      ->check(CLI::IsMember({"gpt2", "cl100k"}))->capture_default_str();
  c.app->add_flag("--split-digits", o->split_digits, "every digit its own piece (HF Digits individual_digits)");
  c.app->add_option("--max-words", o->max_words,
                    "distinct words held while counting; past it rare words are dropped (bounds memory)")
      ->capture_default_str();
  c.app->add_option("--merges-form", o->merges_form, "merges in tokenizer.json: pairs ([[a,b]]) | strings (\"a b\")")
      ->check(CLI::IsMember({"pairs", "strings"}))->capture_default_str();
  c.app->add_flag("-q,--quiet", o->quiet, "no progress output");
  c.run = [o, &g] {
    Context ctx = make_cli_context(g);
    TrainerConfig cfg{.vocab_size = o->vocab_size, .min_frequency = o->min_frequency,
                      .max_token_length = o->max_token_length, .special_tokens = o->specials,
                      .pretokenizer = {.pattern = o->pattern == "cl100k" ? Pattern::kCl100k : Pattern::kGpt2,
                                       .digits = o->split_digits ? DigitSplit::kIndividual : DigitSplit::kNone},
                      .max_words = o->max_words, .n_threads = ctx.apply(),
                      .progress = o->quiet ? ProgressOutput::kNone : ProgressOutput::kStderr};
    const auto t0 = std::chrono::steady_clock::now();
    WordCounter words;
    auto counted = count_words(o->inputs, cfg, words);
    if (!counted.ok()) return report_failure("tokenizer train", counted.status());
    if (counted->n_prunes && !o->quiet)
      std::fprintf(stderr, "[tokenizer.train] word table hit --max-words %zu: words seen <= %llu times were dropped\n",
                   o->max_words, static_cast<unsigned long long>(counted->prune_threshold));
    auto parts = train_bpe(words, cfg);
    if (!parts.ok()) return report_failure("tokenizer train", parts.status());
    auto t = Tokenizer::create(std::move(parts).value());
    if (!t.ok()) return report_failure("tokenizer train", t.status());
    Status st = save_tokenizer_json(*t, o->out, o->merges_form == "strings" ? MergesForm::kStrings : MergesForm::kPairs);
    if (!st.ok()) return report_failure("tokenizer train", st);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o->quiet)
      std::fprintf(stderr, "[tokenizer.train] wrote '%s': %zu tokens, %zu merges, %.2f s\n", o->out.c_str(),
                   t->vocab_size(), t->n_merges(), s);
    return 0;
  };
  return c;
}

Command tok_encode(CLI::App& parent, const GlobalOptions& g) {
  struct Opts {
    Source src;
    std::string input = "-", text, out, format = "text";
    bool allow_special = false, stats = false;
    size_t chunk_bytes = size_t{1} << 20;
  };
  auto o = std::make_shared<Opts>();
  Command c;
  c.app = parent.add_subcommand("encode",
                                "Encode text to token ids. Special-token text (e.g. <|endoftext|>) is encoded as\n"
                                "ordinary bytes unless --allow-special is given.");
  add_source_options(c.app, o->src);
  c.app->add_option("--input", o->input, "text file ('-' = stdin)")->capture_default_str();
  c.app->add_option("--text", o->text, "encode this string instead of --input");
  c.app->add_option("--out", o->out, "output file (default stdout)");
  c.app->add_option("--format", o->format, "text (ids separated by spaces) | u32 (little-endian) | none")
      ->check(CLI::IsMember({"text", "u32", "none"}))->capture_default_str();
  c.app->add_flag("--allow-special", o->allow_special, "map special-token text to the special ids");
  c.app->add_flag("--stats", o->stats, "print bytes, tokens and MB/s (encoding time only) to stderr");
  c.app->add_option("--chunk-bytes", o->chunk_bytes, "parallel work unit (cut where ids cannot change)")
      ->capture_default_str();
  c.run = [o, &g] {
    Context ctx = make_cli_context(g);
    const int n_threads = ctx.apply();
    auto t = load_source(o->src);
    if (!t.ok()) return report_failure("tokenizer encode", t.status());
    std::string text = o->text;
    if (o->text.empty()) {
      auto in = read_input(o->input);
      if (!in.ok()) return report_failure("tokenizer encode", in.status());
      text = std::move(in).value();
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto parts = split_at_safe_points(text, o->chunk_bytes);
    const EncodeOptions opt{.special = o->allow_special ? SpecialMode::kAllow : SpecialMode::kAsText};
    const EncodedBatch batch = t->encode_batch(parts, opt, n_threads);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o->stats)
      std::fprintf(stderr, "[tokenizer.encode] %zu bytes -> %zu tokens in %.3f s: %.2f MB/s, %d threads\n", text.size(),
                   batch.ids.size(), s, text.size() / 1e6 / s, n_threads);
    std::string out;
    if (o->format == "u32") {
      out.resize(batch.ids.size() * 4);
      std::memcpy(out.data(), batch.ids.data(), out.size());  // x86-64: little-endian
    } else if (o->format == "text") {
      for (size_t i = 0; i < batch.ids.size(); ++i) {
        if (i) out += ' ';
        out += std::to_string(batch.ids[i]);
      }
      out += '\n';
    }
    Status st = o->format == "none" ? ok_status() : write_output(o->out, out);
    return st.ok() ? 0 : report_failure("tokenizer encode", st);
  };
  return c;
}

Command tok_decode(CLI::App& parent, const GlobalOptions&) {
  struct Opts {
    Source src;
    std::string input = "-", ids, out, format = "text";
  };
  auto o = std::make_shared<Opts>();
  Command c;
  c.app = parent.add_subcommand("decode", "Decode token ids to the exact bytes they stand for.");
  add_source_options(c.app, o->src);
  c.app->add_option("--input", o->input, "file of ids ('-' = stdin)")->capture_default_str();
  c.app->add_option("--ids", o->ids, "decode these ids (\"15496 995\") instead of --input");
  c.app->add_option("--format", o->format, "input format: text (ids separated by spaces/commas) | u32")
      ->check(CLI::IsMember({"text", "u32"}))->capture_default_str();
  c.app->add_option("--out", o->out, "output file (default stdout)");
  c.run = [o] {
    auto t = load_source(o->src);
    if (!t.ok()) return report_failure("tokenizer decode", t.status());
    std::string raw = o->ids;
    if (raw.empty()) {
      auto in = read_input(o->input);
      if (!in.ok()) return report_failure("tokenizer decode", in.status());
      raw = std::move(in).value();
    }
    const std::string where = !o->ids.empty() ? "--ids" : o->input == "-" ? "stdin" : "'" + o->input + "'";
    std::vector<uint32_t> ids;
    if (o->format == "u32") {
      if (raw.size() % 4)
        return report_failure("tokenizer decode", invalid_argument("[tokenizer.decode] {}: u32 input has {} bytes, "
                                                                   "not a multiple of 4", where, raw.size()));
      ids.resize(raw.size() / 4);
      std::memcpy(ids.data(), raw.data(), raw.size());
    } else {
      size_t i = 0;
      while (i < raw.size()) {
        if (raw[i] == ' ' || raw[i] == ',' || raw[i] == '\n' || raw[i] == '\t' || raw[i] == '\r') { ++i; continue; }
        char* end = nullptr;
        const unsigned long long v = std::strtoull(raw.c_str() + i, &end, 10);
        if (end == raw.c_str() + i || v > 0xFFFFFFFFull)
          return report_failure("tokenizer decode", invalid_argument("[tokenizer.decode] {} byte {}: '{}' is not "
                                                                     "a token id", where, i, raw.substr(i, 12)));
        ids.push_back(static_cast<uint32_t>(v));
        i = static_cast<size_t>(end - raw.c_str());
      }
    }
    auto bytes = t->decode(ids);
    if (!bytes.ok()) return report_failure("tokenizer decode", bytes.status());
    Status st = write_output(o->out, *bytes);
    return st.ok() ? 0 : report_failure("tokenizer decode", st);
  };
  return c;
}

Command tok_info(CLI::App& parent, const GlobalOptions&) {
  struct Opts {
    Source src;
    size_t show = 10;
  };
  auto o = std::make_shared<Opts>();
  Command c;
  c.app = parent.add_subcommand("info", "Print a tokenizer's size, pre-tokenizer, special tokens and last merges.");
  add_source_options(c.app, o->src);
  c.app->add_option("--show", o->show, "how many of the last tokens to list")->capture_default_str();
  c.run = [o] {
    auto t = load_source(o->src);
    if (!t.ok()) return report_failure("tokenizer info", t.status());
    const auto& p = t->parts();
    std::printf("vocab_size      %zu\nmerges          %zu\npre-tokenizer   %s%s\nignore_merges   %s\n",
                t->vocab_size(), t->n_merges(), pattern_name(p.pretokenizer.pattern),
                p.pretokenizer.digits == DigitSplit::kIndividual ? " + individual digits" : "",
                p.ignore_merges ? "true" : "false");
    for (uint32_t id : p.special_ids) std::printf("special         %u %s\n", id, p.tokens[id].c_str());
    for (size_t i = t->vocab_size() > o->show ? t->vocab_size() - o->show : 0; i < t->vocab_size(); ++i)
      std::printf("token           %zu %s\n", i, bytes_to_byte_level(p.tokens[i]).c_str());
    return 0;
  };
  return c;
}

Command tok_import(CLI::App& parent, const GlobalOptions&) {
  struct Opts {
    Source src;
    std::string out, merges_form = "pairs";
  };
  auto o = std::make_shared<Opts>();
  Command c;
  c.app = parent.add_subcommand("import", "Convert GPT-2 (encoder.json + vocab.bpe) or tiktoken files to tokenizer.json.");
  add_source_options(c.app, o->src);
  c.app->add_option("--out", o->out, "tokenizer.json to write")->required();
  c.app->add_option("--merges-form", o->merges_form, "pairs | strings")
      ->check(CLI::IsMember({"pairs", "strings"}))->capture_default_str();
  c.run = [o] {
    auto t = load_source(o->src);
    if (!t.ok()) return report_failure("tokenizer import", t.status());
    Status st = save_tokenizer_json(*t, o->out, o->merges_form == "strings" ? MergesForm::kStrings : MergesForm::kPairs);
    return st.ok() ? 0 : report_failure("tokenizer import", st);
  };
  return c;
}

}  // namespace

Command register_tokenizer(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand("tokenizer", "Byte-level BPE: train, encode, decode, inspect, import (docs/tokenizer.md)");
  c.app->require_subcommand(1);
  auto subs = std::make_shared<std::vector<Command>>(std::vector<Command>{
      tok_train(*c.app, g), tok_encode(*c.app, g), tok_decode(*c.app, g), tok_info(*c.app, g),
      tok_import(*c.app, g)});
  c.run = [subs] {
    for (const Command& s : *subs)
      if (s.app->parsed()) return s.run();
    return 2;
  };
  return c;
}

}  // namespace anvil::cli
