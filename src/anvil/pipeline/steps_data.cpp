// The data steps of `anvil run`: synth, prep, tokenizer, tokenize (steps.h). Each writes only into its
// own folder and reads its upstream step's folder; every file is written atomically by the library.
#include <filesystem>
#include <fstream>

#include "anvil/base/file.h"
#include "anvil/data/prep.h"
#include "anvil/data/reader.h"
#include "anvil/data/synth.h"
#include "anvil/data/tokenize.h"
#include "anvil/pipeline/steps_impl.h"
#include "anvil/tokenizer/formats.h"
#include "anvil/tokenizer/trainer.h"

namespace anvil::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCorpusFile = "corpus.jsonl";
constexpr const char* kTokenizerFile = "tokenizer.json";

// A file whose records are separated by lines holding only `sep` (fortune files), rewritten as JSONL.
Result<uint64_t> split_records(const std::string& path, const std::string& sep, const std::string& source,
                               const std::string& out_path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("[run.prep] cannot open input '{}'", path);
  AtomicFileWriter w;
  ANVIL_RETURN_IF_ERROR(w.open(out_path));
  const std::string stem = fs::path(path).filename().string();
  uint64_t n = 0;
  std::string record, line;
  auto flush = [&]() -> Status {
    while (!record.empty() && (record.back() == '\n' || record.back() == '\r')) record.pop_back();
    if (record.empty()) return ok_status();
    const nlohmann::json doc = {{"id", fmt::format("{}:{}", stem, n)}, {"text", record}, {"source", source}};
    const std::string s = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    record.clear();
    ++n;
    return w.write(s.data(), s.size());
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == sep) {
      ANVIL_RETURN_IF_ERROR(flush());
    } else {
      record += line;
      record += '\n';
    }
  }
  ANVIL_RETURN_IF_ERROR(flush());
  ANVIL_RETURN_IF_ERROR(w.commit());
  return n;
}

std::string synth_file_name(size_t i, const SynthSource& s) {
  return fmt::format("{}-{}-{}-{}.jsonl", i, data::task_kind_name(s.options.kind), data::style_name(s.options.style),
                     data::split_name(s.options.split));
}

}  // namespace

Result<StepOutput> run_synth_step(const StepContext& sc, const std::string& dir) {
  StepOutput out;
  out.summary["sources"] = nlohmann::json::array();
  for (size_t i = 0; i < sc.cfg.synth.size(); ++i) {
    const SynthSource& s = sc.cfg.synth[i];
    ANVIL_ASSIGN_OR_RETURN(std::vector<data::Task> tasks, data::generate(s.options, s.n));
    const std::string name = synth_file_name(i, s);
    AtomicFileWriter w;
    ANVIL_RETURN_IF_ERROR(w.open((fs::path(dir) / name).string()));
    uint64_t bytes = 0;
    for (size_t k = 0; k < tasks.size(); ++k) {
      const std::string id = fmt::format("synth{}-{}-d{}-s{}-{}-{}-{}", i, data::task_kind_name(tasks[k].kind),
                                         s.options.difficulty, s.options.seed, data::split_name(s.options.split),
                                         data::style_name(s.options.style), k);
      const std::string line = data::task_to_json(tasks[k], id, s.options.split).dump() + "\n";
      bytes += line.size();
      ANVIL_RETURN_IF_ERROR(w.write(line.data(), line.size()));
    }
    ANVIL_RETURN_IF_ERROR(w.commit());
    out.outputs.push_back(name);
    out.summary["sources"].push_back({{"file", name}, {"task", data::task_kind_name(s.options.kind)},
                                      {"style", data::style_name(s.options.style)}, {"n", tasks.size()},
                                      {"difficulty", s.options.difficulty}, {"group", s.group}, {"bytes", bytes}});
    std::fprintf(sc.log, "  synth: %zu %s tasks (%s, difficulty %d) -> %s\n", tasks.size(),
                 data::task_kind_name(s.options.kind), data::style_name(s.options.style), s.options.difficulty,
                 name.c_str());
  }
  return out;
}

Result<StepOutput> run_prep_step(const StepContext& sc, const std::string& dir) {
  const PipelineConfig& cfg = sc.cfg;
  data::PrepConfig pc = cfg.prep;
  pc.inputs.clear();
  const std::string synth_dir = step_dir(cfg.run_dir, StepKind::kSynth);
  for (size_t i = 0; i < cfg.synth.size(); ++i) {
    const SynthSource& s = cfg.synth[i];
    data::PrepInput in;
    in.path = (fs::path(synth_dir) / synth_file_name(i, s)).string();
    in.reader.format = data::InputFormat::kJsonl;
    in.reader.source = fmt::format("synth-{}-{}", data::task_kind_name(s.options.kind), data::style_name(s.options.style));
    in.group = s.group;
    in.language_filter = false;  // "What is 86 - 29?" has no language to detect
    in.quality = false;          // short templated tasks would fail the Gopher/C4 rules
    in.near_dedup = false;       // templated tasks look alike to MinHash
    pc.inputs.push_back(std::move(in));
  }
  fs::create_directories(fs::path(dir) / "inputs");
  for (size_t i = 0; i < cfg.inputs.size(); ++i) {
    data::PrepInput in = cfg.inputs[i].input;
    if (in.reader.source.empty()) in.reader.source = fs::path(in.path).filename().string();
    if (!cfg.inputs[i].split_on.empty()) {
      const std::string converted = (fs::path(dir) / "inputs" / fmt::format("{}-{}.jsonl", i, in.reader.source)).string();
      ANVIL_ASSIGN_OR_RETURN(uint64_t n, split_records(in.path, cfg.inputs[i].split_on, in.reader.source, converted));
      std::fprintf(sc.log, "  prep: %s: %llu records split on '%s'\n", in.path.c_str(), static_cast<unsigned long long>(n),
                   cfg.inputs[i].split_on.c_str());
      in.path = converted;
      in.reader.format = data::InputFormat::kJsonl;
      in.reader.text_field = "text";
      in.reader.id_field = "id";
    }
    pc.inputs.push_back(std::move(in));
  }
  pc.output = (fs::path(dir) / kCorpusFile).string();
  pc.work_dir = (fs::path(dir) / "work").string();
  pc.report = (fs::path(dir) / "prep_report.json").string();
  ANVIL_RETURN_IF_ERROR(data::run_prep(pc, data::PrepStage::kAll, data::ShardSpec{}, sc.ctx));
  std::error_code ec;
  fs::remove_all(pc.work_dir, ec);  // stage files: the report and the corpus hold what matters
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(pc.report));
  const nlohmann::json rep = nlohmann::json::parse(text, nullptr, false);
  if (rep.is_discarded()) return internal_error("[run.prep] '{}' is not JSON", pc.report);
  StepOutput out;
  out.outputs = {kCorpusFile, "prep_report.json", "prep_report.html"};
  const nlohmann::json& t = rep["totals"];
  nlohmann::json dropped = nlohmann::json::object();
  uint64_t n_dropped = 0;
  const nlohmann::json reasons = t.value("dropped", nlohmann::json::object());
  for (const auto& [reason, d] : reasons.items()) {
    dropped[reason] = d.value("n", uint64_t{0});
    n_dropped += d.value("n", uint64_t{0});
  }
  out.summary = {{"docs_in", t.value("n_input", uint64_t{0})}, {"docs_kept", t.value("n_kept", uint64_t{0})},
                 {"docs_dropped", n_dropped}, {"dropped", dropped}, {"bytes_kept", t.value("bytes_kept", uint64_t{0})},
                 {"output_docs", rep["output"].value("docs", uint64_t{0})},
                 {"output_bytes", rep["output"].value("bytes", uint64_t{0})}};
  return out;
}

Result<StepOutput> run_tokenizer_step(const StepContext& sc, const std::string& dir) {
  const TokenizerSettings& ts = sc.cfg.tokenizer;
  const std::string corpus = (fs::path(step_dir(sc.cfg.run_dir, StepKind::kPrep)) / kCorpusFile).string();
  // The BPE trainer counts words of plain text: the documents' texts, one blank line apart.
  const std::string text_path = (fs::path(dir) / "corpus.txt").string();
  {
    data::ReaderOptions ro;
    ro.format = data::InputFormat::kJsonl;
    ANVIL_ASSIGN_OR_RETURN(auto reader, data::DocumentReader::open(corpus, ro));
    AtomicFileWriter w;
    ANVIL_RETURN_IF_ERROR(w.open(text_path));
    data::Document doc;
    for (;;) {
      ANVIL_ASSIGN_OR_RETURN(bool more, reader->next(doc));
      if (!more) break;
      ANVIL_RETURN_IF_ERROR(w.write(doc.text.data(), doc.text.size()));
      ANVIL_RETURN_IF_ERROR(w.write("\n\n", 2));
    }
    ANVIL_RETURN_IF_ERROR(w.commit());
  }
  const tok::TrainerConfig tc{
      .vocab_size = ts.vocab_size, .min_frequency = ts.min_frequency, .max_token_length = ts.max_token_length,
      .special_tokens = ts.specials,
      .pretokenizer = {.pattern = ts.pattern == "cl100k" ? tok::Pattern::kCl100k : tok::Pattern::kGpt2,
                       .digits = ts.split_digits ? tok::DigitSplit::kIndividual : tok::DigitSplit::kNone},
      .n_threads = sc.ctx.apply(), .progress = tok::ProgressOutput::kStderr};
  tok::WordCounter words;
  const std::vector<std::string> inputs = {text_path};
  ANVIL_ASSIGN_OR_RETURN(tok::CountStats counted, tok::count_words(inputs, tc, words));
  tok::TrainStats stats;
  ANVIL_ASSIGN_OR_RETURN(tok::TokenizerParts parts, tok::train_bpe(words, tc, &stats));
  ANVIL_ASSIGN_OR_RETURN(tok::Tokenizer t, tok::Tokenizer::create(std::move(parts)));
  ANVIL_RETURN_IF_ERROR(tok::save_tokenizer_json(t, (fs::path(dir) / kTokenizerFile).string()));
  std::error_code ec;
  fs::remove(text_path, ec);
  StepOutput out;
  out.outputs = {kTokenizerFile, "tokenizer_stats.json"};
  out.summary = {{"vocab_size", t.vocab_size()}, {"n_merges", t.n_merges()}, {"specials", ts.specials},
                 {"requested_vocab_size", ts.vocab_size}, {"bytes_counted", counted.n_bytes},
                 {"pieces_counted", counted.n_pieces}, {"merge_seconds", stats.merge_seconds},
                 {"pattern", ts.pattern}, {"split_digits", ts.split_digits}};
  ANVIL_RETURN_IF_ERROR(write_file_atomic((fs::path(dir) / "tokenizer_stats.json").string(), out.summary.dump(2) + "\n"));
  return out;
}

Result<StepOutput> run_tokenize_step(const StepContext& sc, const std::string& dir) {
  const std::string tok_path = (fs::path(step_dir(sc.cfg.run_dir, StepKind::kTokenizer)) / kTokenizerFile).string();
  ANVIL_ASSIGN_OR_RETURN(tok::Tokenizer t, tok::load_tokenizer_json(tok_path));
  data::TokenizeOptions o;
  o.inputs = {(fs::path(step_dir(sc.cfg.run_dir, StepKind::kPrep)) / kCorpusFile).string()};
  o.reader.format = data::InputFormat::kJsonl;
  o.out_dir = dir;
  o.val_fraction = sc.cfg.tokenize.val_fraction;
  o.eos_token = sc.cfg.tokenize.eos;
  o.n_threads = sc.ctx.n_threads;
  ANVIL_ASSIGN_OR_RETURN(data::TokenizeReport rep, data::tokenize_corpus(t, o));
  const uint64_t n_tokens = rep.train_tokens + rep.val_tokens;
  StepOutput out;
  out.summary = {{"documents", rep.stats.n_kept}, {"train_documents", rep.train_docs}, {"val_documents", rep.val_docs},
                 {"train_tokens", rep.train_tokens}, {"val_tokens", rep.val_tokens}, {"vocab_size", rep.vocab_size},
                 {"bytes_per_token", n_tokens > 0 ? static_cast<double>(rep.stats.bytes_kept) / static_cast<double>(n_tokens) : 0.0},
                 {"unreadable_records", rep.stats.n_dropped_total()}, {"seconds", rep.seconds}};
  ANVIL_RETURN_IF_ERROR(write_file_atomic((fs::path(dir) / "tokenize_report.json").string(), out.summary.dump(2) + "\n"));
  out.outputs.push_back("tokenize_report.json");
  for (const std::string& s : rep.shards) out.outputs.push_back(fs::relative(s, dir).string());
  if (rep.train_tokens == 0) return invalid_argument("[run.tokenize] no training tokens: the corpus '{}' is empty", o.inputs[0]);
  return out;
}

}  // namespace anvil::pipeline
