// Prep settings from TOML (see prep_config.h). Range and value errors name the key path; type and
// unknown-key errors come from TomlDocument::finish(), all at once.
#include "anvil/data/prep_config.h"

#include <filesystem>

#include <toml++/toml.h>

#include "anvil/base/file.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

std::string resolve(const std::string& base_dir, const std::string& p) {
  return p.empty() || fs::path(p).is_absolute() || base_dir.empty() ? p : (fs::path(base_dir) / p).string();
}

void get_langs(TomlSection& s, const char* key, std::vector<Lang>& out, Status& err) {
  if (!s.has(key)) return;
  std::vector<std::string> names;
  s.get(key, names);
  std::vector<Lang> langs;
  for (const std::string& n : names) {
    auto l = parse_lang(n);
    if (!l.ok()) {
      if (err.ok()) err = invalid_argument("[prep.config] '{}.{}': {}", s.path(), key, l.status().message());
      return;
    }
    langs.push_back(*l);
  }
  out = std::move(langs);
}

void read_quality(TomlSection q, PrepConfig& c, Status& err) {
  get_langs(q, "languages", c.quality_languages, err);
  q.get("gopher_quality", c.gopher_quality).get("gopher_repetition", c.gopher_repetition).get("c4", c.c4);
  TomlSection g = q.section("gopher");
  GopherQualityOptions& go = c.gopher_quality_options;
  g.get_count("min_doc_words", go.min_doc_words);
  g.get_count("max_doc_words", go.max_doc_words);
  g.get_count("min_stop_words", go.min_stop_words);
  g.get("min_avg_word_length", go.min_avg_word_length)
      .get("max_avg_word_length", go.max_avg_word_length)
      .get("max_symbol_word_ratio", go.max_symbol_word_ratio)
      .get("max_bullet_lines_ratio", go.max_bullet_lines_ratio)
      .get("max_ellipsis_lines_ratio", go.max_ellipsis_lines_ratio)
      .get("min_alpha_words_ratio", go.min_alpha_words_ratio);
  GopherRepetitionOptions& ro = c.gopher_repetition_options;
  q.section("repetition")
      .get("dup_para_frac", ro.dup_para_frac)
      .get("dup_para_char_frac", ro.dup_para_char_frac)
      .get("dup_line_frac", ro.dup_line_frac)
      .get("dup_line_char_frac", ro.dup_line_char_frac);
  TomlSection c4 = q.section("c4_options");
  C4Options& co = c.c4_options;
  c4.get("remove_citations", co.remove_citations)
      .get("filter_no_terminal_punct", co.filter_no_terminal_punct)
      .get("filter_lorem_ipsum", co.filter_lorem_ipsum)
      .get("filter_javascript", co.filter_javascript)
      .get("filter_curly_bracket", co.filter_curly_bracket)
      .get("filter_policy", co.filter_policy);
  c4.get_count("min_words_per_line", co.min_words_per_line);
  c4.get_count("max_word_length", co.max_word_length);
  c4.get_count("min_num_sentences", co.min_num_sentences);
}

}  // namespace

Status read_prep_input(TomlSection in, const std::string& base_dir, PrepInput& out) {
  Status err;
  std::string format = "auto", unit = "blank_line";
  in.require("path", out.path)
      .get_choice("format", format, {"auto", "jsonl", "text"})
      .get_choice("text_unit", unit, {"file", "blank_line", "line"})
      .get("text_field", out.reader.text_field)
      .get("id_field", out.reader.id_field)
      .get("source", out.reader.source)
      .get("group", out.group)
      .get("strict", out.reader.strict)
      .get("language_filter", out.language_filter)
      .get("quality", out.quality)
      .get("near_dedup", out.near_dedup);
  in.get_count("max_record_bytes", out.reader.max_record_bytes);
  out.path = resolve(base_dir, out.path);
  out.reader.format = format == "jsonl" ? InputFormat::kJsonl : format == "text" ? InputFormat::kText : InputFormat::kAuto;
  out.reader.text_unit = unit == "file" ? TextUnit::kFile : unit == "line" ? TextUnit::kLine : TextUnit::kBlankLine;
  return err;
}

Status read_prep_cleaning(TomlSection tables, const std::string& base_dir, PrepConfig& c) {
  Status err;
  TomlSection norm = tables.section("normalize");
  std::string utf8 = "repair";
  norm.get_choice("utf8", utf8, {"repair", "drop"}).get("nfkc", c.normalize.nfkc).get("clean", c.normalize.clean);
  c.normalize.utf8 = utf8 == "drop" ? Utf8Policy::kDrop : Utf8Policy::kRepair;
  get_langs(norm, "languages", c.normalize.keep_languages, err);

  TomlSection dedup = tables.section("dedup");
  dedup.get("exact", c.exact_dedup)
      .get("near", c.near_dedup)
      .get("n_grams", c.minhash.n_grams)
      .get("bands", c.minhash.n_bands)
      .get("rows", c.minhash.rows_per_band);
  dedup.get_count("seed", c.minhash.seed);
  if (c.minhash.n_grams < 1 || c.minhash.n_bands < 1 || c.minhash.rows_per_band < 1) {
    if (err.ok())
      err = invalid_argument("[prep.config] '{}': n_grams, bands and rows must be >= 1, got {}, {}, {}", dedup.path(),
                             c.minhash.n_grams, c.minhash.n_bands, c.minhash.rows_per_band);
  }

  TomlSection pii = tables.section("pii");
  pii.get("enabled", c.pii).get("only_public_ips", c.pii_options.only_public_ips);
  for (size_t k = 0; k < kNumPiiTypes; ++k) {
    const char* name = pii_type_name(static_cast<PiiType>(k));
    std::string action;
    pii.get(name, action);
    if (action.empty()) continue;
    auto a = parse_pii_action(action);
    if (!a.ok()) {
      if (err.ok()) err = invalid_argument("[prep.config] '{}.{}': {}", pii.path(), name, a.status().message());
      continue;
    }
    c.pii_options.action[k] = *a;
  }

  read_quality(tables.section("quality"), c, err);

  if (tables.has("perplexity")) {
    TomlSection ppl = tables.section("perplexity");
    c.perplexity = true;
    std::vector<std::string> refs;
    ppl.get("enabled", c.perplexity)
        .get("order", c.perplexity_lm.order)
        .get("max_perplexity", c.max_perplexity)
        .get("keep_percentile", c.keep_percentile)
        .get("model", c.perplexity_model)
        .get("reference", refs);
    get_langs(ppl, "languages", c.perplexity_languages, err);
    for (const std::string& r : refs) c.perplexity_reference.push_back(resolve(base_dir, r));
    if (!c.perplexity_model.empty()) c.perplexity_model = resolve(base_dir, c.perplexity_model);
    if (err.ok() && c.perplexity && c.perplexity_reference.empty() && c.perplexity_model.empty())
      err = invalid_argument("[prep.config] '{}.model' or '{}.reference' is required when the filter is enabled",
                             ppl.path(), ppl.path());
    if (err.ok() && !(c.keep_percentile >= 0 && c.keep_percentile <= 1))
      err = invalid_argument("[prep.config] '{}.keep_percentile' = {} (expected 0 = off, or a fraction in (0, 1])",
                             ppl.path(), c.keep_percentile);
    if (err.ok() && (c.perplexity_lm.order < 1 || c.perplexity_lm.order > 8))
      err = invalid_argument("[prep.config] '{}.order' = {} (expected 1..8)", ppl.path(), c.perplexity_lm.order);
  }
  return err;
}

Status read_prep_mix(TomlSection mix, PrepConfig& c) {
  Status err;
  mix.get("enabled", c.mix).get("max_epochs", c.mix_options.max_epochs);
  mix.get_count("seed", c.mix_options.seed);
  if (mix.has("shares")) {
    TomlSection shares = mix.section("shares");
    c.mix_options.shares.clear();
    for (const std::string& g : shares.keys()) {
      double v = -1;
      shares.get(g.c_str(), v);
      if (v < 0 && err.ok()) err = invalid_argument("[prep.config] '{}.{}' = {} must be a share >= 0", shares.path(), g, v);
      c.mix_options.shares[g] = v;
    }
  }
  if (err.ok() && c.mix_options.max_epochs <= 0)
    err = invalid_argument("[prep.config] '{}.max_epochs' = {} must be > 0", mix.path(), c.mix_options.max_epochs);
  return err;
}

Status read_prep_balance(TomlSection root, const std::string& text, const std::string& source, PrepConfig& c) {
  // Line numbers for messages come from a second parse of the text (TomlSection does not expose them).
  toml::table lines;
  try {
    lines = toml::parse(text, source);
  } catch (const toml::parse_error&) {
  }
  const toml::array* line_tables = lines["balance"].as_array();
  Status err;
  size_t i = 0;
  for (TomlSection bt : root.tables("balance")) {
    const toml::table* lt = line_tables && i < line_tables->size() ? (*line_tables)[i].as_table() : nullptr;
    auto where = [&](const toml::node* n, const std::string& path) {
      return n && n->source().begin.line > 0 ? fmt::format("{}:{}: {}", source, n->source().begin.line, path)
                                             : fmt::format("{}: {}", source, path);
    };
    BalanceSpec spec;
    spec.where = where(lt, bt.path());
    std::string policy = bt.has("shares") ? "shares" : "uniform", unit = "docs";
    bt.get("group", spec.group)
        .get("source", spec.source)
        .require("field", spec.field)
        .get_choice("policy", policy, {"uniform", "shares"})
        .get_choice("unit", unit, {"docs", "bytes"})
        .get("max_epochs", spec.max_epochs);
    spec.unit = unit == "bytes" ? BalanceUnit::kBytes : BalanceUnit::kDocs;
    if (bt.has("shares")) {
      TomlSection shares = bt.section("shares");
      const toml::table* ls = lt ? (*lt)["shares"].as_table() : nullptr;
      spec.shares_where = where(ls, shares.path());
      for (const std::string& cat : shares.keys()) {
        double v = -1;
        shares.get(cat.c_str(), v);
        spec.shares[cat] = v;
        spec.share_where[cat] = where(ls ? ls->get(cat) : nullptr, shares.path() + "." + cat);
      }
    }
    if (err.ok() && policy == "uniform" && bt.has("shares")) {
      err = invalid_argument("[prep.config] {}: policy = \"uniform\" takes no shares table", spec.where);
    }
    if (err.ok() && policy == "shares" && spec.shares.empty()) {
      err = invalid_argument("[prep.config] {}: policy = \"shares\" needs a shares table", spec.where);
    }
    if (err.ok() && !spec.field.empty()) err = validate_balance(spec);
    c.balance.push_back(std::move(spec));
    ++i;
  }
  return err;
}

Result<PrepConfig> parse_prep_config(const std::string& text, const std::string& source, const std::string& base_dir) {
  ANVIL_ASSIGN_OR_RETURN(auto doc, TomlDocument::parse(text, source));
  TomlSection root = doc->root();
  PrepConfig c;
  root.section("prep").get("output", c.output).get("work_dir", c.work_dir).get("report", c.report);
  Status first;
  auto keep = [&first](Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  for (TomlSection in : root.tables("input")) {
    PrepInput input;
    keep(read_prep_input(in, base_dir, input));
    c.inputs.push_back(std::move(input));
  }
  keep(read_prep_cleaning(root, base_dir, c));
  keep(read_prep_mix(root.section("mix"), c));
  keep(read_prep_balance(root, text, source, c));
  ANVIL_RETURN_IF_ERROR(doc->finish());
  if (!first.ok()) return first.with_context(source);
  if (c.output.empty()) return invalid_argument("[prep.config] '{}': prep.output is required", source);
  c.output = resolve(base_dir, c.output);
  c.work_dir = c.work_dir.empty() ? c.output + ".work" : resolve(base_dir, c.work_dir);
  c.report = c.report.empty() ? (fs::path(c.output).parent_path() / "prep_report.json").string()
                              : resolve(base_dir, c.report);
  return c;
}

Result<PrepConfig> load_prep_config(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_prep_config(text, path, fs::path(path).parent_path().string());
}

}  // namespace anvil::data
