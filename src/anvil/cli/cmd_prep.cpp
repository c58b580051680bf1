// `anvil prep --config prep.toml`: reads and validates the TOML config (unknown keys are errors that
// name the key path; relative paths resolve against the config file's folder) into data::PrepConfig
// and runs the pipeline, or one stage of it for one shard (docs/data.md §prep, examples/prep.toml).
#include <filesystem>
#include <set>

#include <toml++/toml.h>

#include "anvil/cli/command.h"
#include "anvil/data/prep.h"

namespace anvil::cli {
namespace {

using data::Lang;
namespace fs = std::filesystem;

Status check_keys(const toml::table& t, const std::string& path, const std::set<std::string>& allowed) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      return invalid_argument("[prep.config] unknown key '{}{}' at line {}", path.empty() ? "" : path + ".", k.str(),
                              k.source().begin.line);
    }
  }
  return ok_status();
}

template <typename T>
Status get(const toml::table& t, const char* key, const std::string& path, T& out) {
  const toml::node* n = t.get(key);
  if (!n) return ok_status();
  std::optional<T> v;
  if constexpr (std::is_same_v<T, size_t> || std::is_same_v<T, int> || std::is_same_v<T, uint64_t>) {
    auto i = n->value<int64_t>();
    if (i && *i >= 0) v = static_cast<T>(*i);
  } else {
    v = n->value<T>();
  }
  if (!v) {
    return invalid_argument("[prep.config] '{}.{}' at line {} has the wrong type or value", path, key,
                            n->source().begin.line);
  }
  out = *v;
  return ok_status();
}

Result<std::vector<Lang>> get_langs(const toml::table& t, const char* key, const std::string& path,
                                    std::vector<Lang> fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  const toml::array* a = n->as_array();
  if (!a) return invalid_argument("[prep.config] '{}.{}' must be an array of \"zh\"|\"en\"|\"other\"", path, key);
  std::vector<Lang> out;
  for (const auto& e : *a) {
    auto s = e.value<std::string>();
    if (!s) return invalid_argument("[prep.config] '{}.{}' must hold strings", path, key);
    auto l = data::parse_lang(*s);
    if (!l.ok()) return invalid_argument("[prep.config] '{}.{}': {}", path, key, l.status().message());
    out.push_back(*l);
  }
  return out;
}

const toml::table* sub(const toml::table& t, const char* key) {
  const toml::node* n = t.get(key);
  return n ? n->as_table() : nullptr;
}

Result<data::PrepConfig> load_config(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return invalid_argument("[prep.config] '{}':{}:{}: {}", path, e.source().begin.line, e.source().begin.column,
                            e.description());
  }
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() || base.empty() ? p : (base / p).string(); };
  ANVIL_RETURN_IF_ERROR(check_keys(root, "", {"prep", "input", "normalize", "dedup", "pii", "quality", "perplexity", "mix"}));
  data::PrepConfig c;
  if (const auto* t = sub(root, "prep")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "prep", {"output", "work_dir", "report"}));
    ANVIL_RETURN_IF_ERROR(get(*t, "output", "prep", c.output));
    ANVIL_RETURN_IF_ERROR(get(*t, "work_dir", "prep", c.work_dir));
    ANVIL_RETURN_IF_ERROR(get(*t, "report", "prep", c.report));
  }
  if (c.output.empty()) return invalid_argument("[prep.config] '{}': prep.output is required", path);
  c.output = resolve(c.output);
  c.work_dir = resolve(c.work_dir.empty() ? c.output + ".work" : c.work_dir);
  c.report = resolve(c.report.empty() ? (fs::path(c.output).parent_path() / "prep_report.json").string() : c.report);
  if (const toml::node* n = root.get("input")) {
    const toml::array* arr = n->as_array();
    if (!arr) return invalid_argument("[prep.config] 'input' must be an array of tables ([[input]])");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      const std::string p = fmt::format("input[{}]", i);
      if (!t) return invalid_argument("[prep.config] '{}' must be a table", p);
      ANVIL_RETURN_IF_ERROR(check_keys(*t, p, {"path", "format", "text_unit", "text_field", "id_field", "source",
                                               "group", "strict", "max_record_bytes", "language_filter", "quality", "near_dedup"}));
      data::PrepInput in;
      std::string format = "auto", unit = "blank_line";
      ANVIL_RETURN_IF_ERROR(get(*t, "path", p, in.path));
      ANVIL_RETURN_IF_ERROR(get(*t, "format", p, format));
      ANVIL_RETURN_IF_ERROR(get(*t, "text_unit", p, unit));
      ANVIL_RETURN_IF_ERROR(get(*t, "text_field", p, in.reader.text_field));
      ANVIL_RETURN_IF_ERROR(get(*t, "id_field", p, in.reader.id_field));
      ANVIL_RETURN_IF_ERROR(get(*t, "source", p, in.reader.source));
      ANVIL_RETURN_IF_ERROR(get(*t, "group", p, in.group));
      ANVIL_RETURN_IF_ERROR(get(*t, "strict", p, in.reader.strict));
      ANVIL_RETURN_IF_ERROR(get(*t, "max_record_bytes", p, in.reader.max_record_bytes));
      ANVIL_RETURN_IF_ERROR(get(*t, "language_filter", p, in.language_filter));
      ANVIL_RETURN_IF_ERROR(get(*t, "quality", p, in.quality));
      ANVIL_RETURN_IF_ERROR(get(*t, "near_dedup", p, in.near_dedup));
      if (in.path.empty()) return invalid_argument("[prep.config] '{}.path' is required", p);
      in.path = resolve(in.path);
      if (format == "auto") in.reader.format = data::InputFormat::kAuto;
      else if (format == "jsonl") in.reader.format = data::InputFormat::kJsonl;
      else if (format == "text") in.reader.format = data::InputFormat::kText;
      else return invalid_argument("[prep.config] '{}.format' = '{}' (expected auto|jsonl|text)", p, format);
      if (unit == "file") in.reader.text_unit = data::TextUnit::kFile;
      else if (unit == "blank_line") in.reader.text_unit = data::TextUnit::kBlankLine;
      else if (unit == "line") in.reader.text_unit = data::TextUnit::kLine;
      else return invalid_argument("[prep.config] '{}.text_unit' = '{}' (expected file|blank_line|line)", p, unit);
      c.inputs.push_back(std::move(in));
    }
  }
  if (const auto* t = sub(root, "normalize")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "normalize", {"utf8", "nfkc", "clean", "languages"}));
    std::string utf8 = "repair";
    ANVIL_RETURN_IF_ERROR(get(*t, "utf8", "normalize", utf8));
    if (utf8 != "repair" && utf8 != "drop") {
      return invalid_argument("[prep.config] 'normalize.utf8' = '{}' (expected repair|drop)", utf8);
    }
    c.normalize.utf8 = utf8 == "drop" ? data::Utf8Policy::kDrop : data::Utf8Policy::kRepair;
    ANVIL_RETURN_IF_ERROR(get(*t, "nfkc", "normalize", c.normalize.nfkc));
    ANVIL_RETURN_IF_ERROR(get(*t, "clean", "normalize", c.normalize.clean));
    ANVIL_ASSIGN_OR_RETURN(c.normalize.keep_languages, get_langs(*t, "languages", "normalize", {}));
  }
  if (const auto* t = sub(root, "dedup")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "dedup", {"exact", "near", "n_grams", "bands", "rows", "seed"}));
    ANVIL_RETURN_IF_ERROR(get(*t, "exact", "dedup", c.exact_dedup));
    ANVIL_RETURN_IF_ERROR(get(*t, "near", "dedup", c.near_dedup));
    ANVIL_RETURN_IF_ERROR(get(*t, "n_grams", "dedup", c.minhash.n_grams));
    ANVIL_RETURN_IF_ERROR(get(*t, "bands", "dedup", c.minhash.n_bands));
    ANVIL_RETURN_IF_ERROR(get(*t, "rows", "dedup", c.minhash.rows_per_band));
    ANVIL_RETURN_IF_ERROR(get(*t, "seed", "dedup", c.minhash.seed));
    if (c.minhash.n_grams < 1 || c.minhash.n_bands < 1 || c.minhash.rows_per_band < 1) {
      return invalid_argument("[prep.config] dedup.n_grams, bands and rows must be >= 1");
    }
  }
  if (const auto* t = sub(root, "pii")) {
    std::set<std::string> keys = {"enabled", "only_public_ips"};
    for (size_t k = 0; k < data::kNumPiiTypes; ++k) keys.insert(data::pii_type_name(static_cast<data::PiiType>(k)));
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "pii", keys));
    ANVIL_RETURN_IF_ERROR(get(*t, "enabled", "pii", c.pii));
    ANVIL_RETURN_IF_ERROR(get(*t, "only_public_ips", "pii", c.pii_options.only_public_ips));
    for (size_t k = 0; k < data::kNumPiiTypes; ++k) {
      std::string action;
      const char* name = data::pii_type_name(static_cast<data::PiiType>(k));
      ANVIL_RETURN_IF_ERROR(get(*t, name, "pii", action));
      if (action.empty()) continue;
      auto a = data::parse_pii_action(action);
      if (!a.ok()) return invalid_argument("[prep.config] 'pii.{}': {}", name, a.status().message());
      c.pii_options.action[k] = *a;
    }
  }
  if (const auto* t = sub(root, "quality")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "quality", {"languages", "gopher_quality", "gopher_repetition", "c4", "gopher",
                                                     "repetition", "c4_options"}));
    ANVIL_ASSIGN_OR_RETURN(c.quality_languages, get_langs(*t, "languages", "quality", c.quality_languages));
    ANVIL_RETURN_IF_ERROR(get(*t, "gopher_quality", "quality", c.gopher_quality));
    ANVIL_RETURN_IF_ERROR(get(*t, "gopher_repetition", "quality", c.gopher_repetition));
    ANVIL_RETURN_IF_ERROR(get(*t, "c4", "quality", c.c4));
    if (const auto* g = sub(*t, "gopher")) {
      auto& o = c.gopher_quality_options;
      const std::string p = "quality.gopher";
      ANVIL_RETURN_IF_ERROR(check_keys(*g, p, {"min_doc_words", "max_doc_words", "min_avg_word_length",
                                               "max_avg_word_length", "max_symbol_word_ratio", "max_bullet_lines_ratio",
                                               "max_ellipsis_lines_ratio", "min_alpha_words_ratio", "min_stop_words"}));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_doc_words", p, o.min_doc_words));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_doc_words", p, o.max_doc_words));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_avg_word_length", p, o.min_avg_word_length));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_avg_word_length", p, o.max_avg_word_length));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_symbol_word_ratio", p, o.max_symbol_word_ratio));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_bullet_lines_ratio", p, o.max_bullet_lines_ratio));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_ellipsis_lines_ratio", p, o.max_ellipsis_lines_ratio));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_alpha_words_ratio", p, o.min_alpha_words_ratio));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_stop_words", p, o.min_stop_words));
    }
    if (const auto* g = sub(*t, "repetition")) {
      auto& o = c.gopher_repetition_options;
      const std::string p = "quality.repetition";
      ANVIL_RETURN_IF_ERROR(check_keys(*g, p, {"dup_para_frac", "dup_para_char_frac", "dup_line_frac",
                                               "dup_line_char_frac"}));
      ANVIL_RETURN_IF_ERROR(get(*g, "dup_para_frac", p, o.dup_para_frac));
      ANVIL_RETURN_IF_ERROR(get(*g, "dup_para_char_frac", p, o.dup_para_char_frac));
      ANVIL_RETURN_IF_ERROR(get(*g, "dup_line_frac", p, o.dup_line_frac));
      ANVIL_RETURN_IF_ERROR(get(*g, "dup_line_char_frac", p, o.dup_line_char_frac));
    }
    if (const auto* g = sub(*t, "c4_options")) {
      auto& o = c.c4_options;
      const std::string p = "quality.c4_options";
      ANVIL_RETURN_IF_ERROR(check_keys(*g, p, {"remove_citations", "filter_no_terminal_punct", "min_words_per_line",
                                               "max_word_length", "filter_lorem_ipsum", "filter_javascript",
                                               "filter_curly_bracket", "filter_policy", "min_num_sentences"}));
      ANVIL_RETURN_IF_ERROR(get(*g, "remove_citations", p, o.remove_citations));
      ANVIL_RETURN_IF_ERROR(get(*g, "filter_no_terminal_punct", p, o.filter_no_terminal_punct));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_words_per_line", p, o.min_words_per_line));
      ANVIL_RETURN_IF_ERROR(get(*g, "max_word_length", p, o.max_word_length));
      ANVIL_RETURN_IF_ERROR(get(*g, "filter_lorem_ipsum", p, o.filter_lorem_ipsum));
      ANVIL_RETURN_IF_ERROR(get(*g, "filter_javascript", p, o.filter_javascript));
      ANVIL_RETURN_IF_ERROR(get(*g, "filter_curly_bracket", p, o.filter_curly_bracket));
      ANVIL_RETURN_IF_ERROR(get(*g, "filter_policy", p, o.filter_policy));
      ANVIL_RETURN_IF_ERROR(get(*g, "min_num_sentences", p, o.min_num_sentences));
    }
  }
  if (const auto* t = sub(root, "perplexity")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "perplexity", {"enabled", "reference", "order", "max_perplexity", "languages"}));
    c.perplexity = true;
    ANVIL_RETURN_IF_ERROR(get(*t, "enabled", "perplexity", c.perplexity));
    ANVIL_RETURN_IF_ERROR(get(*t, "order", "perplexity", c.perplexity_lm.order));
    ANVIL_RETURN_IF_ERROR(get(*t, "max_perplexity", "perplexity", c.max_perplexity));
    ANVIL_ASSIGN_OR_RETURN(c.perplexity_languages, get_langs(*t, "languages", "perplexity", c.perplexity_languages));
    if (const toml::node* n = t->get("reference")) {
      const toml::array* a = n->as_array();
      if (!a) return invalid_argument("[prep.config] 'perplexity.reference' must be an array of paths");
      for (const auto& e : *a) {
        auto s = e.value<std::string>();
        if (!s) return invalid_argument("[prep.config] 'perplexity.reference' must hold strings");
        c.perplexity_reference.push_back(resolve(*s));
      }
    }
    if (c.perplexity && c.perplexity_reference.empty()) {
      return invalid_argument("[prep.config] 'perplexity.reference' is required when the filter is enabled");
    }
    if (c.perplexity_lm.order < 1 || c.perplexity_lm.order > 8) {
      return invalid_argument("[prep.config] 'perplexity.order' = {} (expected 1..8)", c.perplexity_lm.order);
    }
  }
  if (const auto* t = sub(root, "mix")) {
    ANVIL_RETURN_IF_ERROR(check_keys(*t, "mix", {"enabled", "max_epochs", "seed", "shares"}));
    ANVIL_RETURN_IF_ERROR(get(*t, "enabled", "mix", c.mix));
    ANVIL_RETURN_IF_ERROR(get(*t, "max_epochs", "mix", c.mix_options.max_epochs));
    ANVIL_RETURN_IF_ERROR(get(*t, "seed", "mix", c.mix_options.seed));
    if (const auto* s = sub(*t, "shares")) {
      c.mix_options.shares.clear();
      for (const auto& [k, v] : *s) {
        auto d = v.value<double>();
        if (!d) return invalid_argument("[prep.config] 'mix.shares.{}' must be a number", k.str());
        c.mix_options.shares[std::string(k.str())] = *d;
      }
    }
  }
  return c;
}

Result<data::ShardSpec> parse_shard(const std::string& s) {
  const size_t slash = s.find('/');
  data::ShardSpec spec;
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    spec.index = static_cast<uint32_t>(std::stoul(s.substr(0, slash)));
    spec.count = static_cast<uint32_t>(std::stoul(s.substr(slash + 1)));
  } catch (const std::exception&) {
    return invalid_argument("[prep] --shard '{}' is not i/N", s);
  }
  if (spec.count == 0 || spec.index >= spec.count) return invalid_argument("[prep] --shard {}: need 0 <= i < N", s);
  return spec;
}

}  // namespace

Command register_prep(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::string config, stage = "all", shard;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand(
      "prep",
      "Clean a text corpus: read JSONL/text (zstd ok) → normalize → exact dedup → quality filters → PII → MinHash "
      "near-dedup → mixing, writing kept documents (JSONL) and prep_report.json/.html.\n"
      "Every input record ends kept or dropped with a reason. Stages can run shard-parallel:\n"
      "  filter --shard i/N (each i), buckets --shard j/M (each j), cluster, finalize --shard i/N, report.\n"
      "The config format is documented in docs/data.md and examples/prep.toml.");
  c.app->add_option("--config", args->config, "prep.toml")->required()->check(CLI::ExistingFile);
  c.app->add_option("--stage", args->stage, "all|filter|buckets|cluster|finalize|report")
      ->check(CLI::IsMember({"all", "filter", "buckets", "cluster", "finalize", "report"}))
      ->capture_default_str();
  c.app->add_option("--shard", args->shard, "i/N: this worker's share (filter, buckets, finalize)");
  c.run = [args, &g] {
    auto cfg = load_config(args->config);
    if (!cfg.ok()) {
      std::fprintf(stderr, "anvil prep: %s\n", cfg.status().to_string().c_str());
      return 2;
    }
    data::ShardSpec shard;
    if (!args->shard.empty()) {
      auto s = parse_shard(args->shard);
      if (!s.ok()) {
        std::fprintf(stderr, "anvil prep: %s\n", s.status().to_string().c_str());
        return 2;
      }
      shard = *s;
    }
    const Context ctx = make_cli_context(g);
    const Status st = data::run_prep(*cfg, *data::parse_prep_stage(args->stage), shard, ctx);
    if (!st.ok()) return report_failure("prep", st);
    if (args->stage == "all" || args->stage == "report") std::printf("report: %s\n", cfg->report.c_str());
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
