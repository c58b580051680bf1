// Reading the `anvil run` config (see config.h): overrides on the toml++ tree, then one strict pass of
// base/toml_reader.h over it, delegating [[input]]/[prep]/[mix] and [train] to the tools' own parsers.
#include "anvil/pipeline/config.h"

#include <sstream>

#include <toml++/toml.h>

#include "anvil/base/file.h"
#include "anvil/base/toml_reader.h"
#include "anvil/data/prep_config.h"
#include "anvil/eval/runner.h"
#include "anvil/train/train_config.h"

namespace anvil::pipeline {
namespace {

constexpr int64_t kDefaultValEvery = 100;
constexpr int64_t kDefaultCheckpointEvery = 200;

// "name" or "name[3]" of one override path segment.
struct Segment {
  std::string key;
  int64_t index = -1;
};

Result<std::vector<Segment>> split_path(const std::string& path) {
  std::vector<Segment> out;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) {
    Segment s;
    const size_t open = part.find('[');
    s.key = part.substr(0, open);
    if (open != std::string::npos) {
      if (part.back() != ']') return invalid_argument("[run.set] '{}': bad index in '{}'", path, part);
      try {
        s.index = std::stoll(part.substr(open + 1, part.size() - open - 2));
      } catch (const std::exception&) {
        return invalid_argument("[run.set] '{}': bad index in '{}'", path, part);
      }
    }
    if (s.key.empty()) return invalid_argument("[run.set] '{}': empty key", path);
    out.push_back(std::move(s));
  }
  if (out.empty()) return invalid_argument("[run.set] empty key path");
  return out;
}

Status apply_override(toml::table& root, const Override& o) {
  ANVIL_ASSIGN_OR_RETURN(std::vector<Segment> segs, split_path(o.path));
  toml::table value_doc;
  try {
    value_doc = toml::parse("v = " + o.value);
  } catch (const toml::parse_error&) {
    value_doc.insert_or_assign("v", o.value);  // a bare word: a string
  }
  toml::table* t = &root;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    const Segment& s = segs[i];
    toml::node* n = t->get(s.key);
    if (n == nullptr) {
      if (s.index >= 0) return invalid_argument("[run.set] '{}': there is no [[{}]]", o.path, s.key);
      t->insert(s.key, toml::table{});
      n = t->get(s.key);
    }
    if (s.index >= 0) {
      toml::array* a = n->as_array();
      if (a == nullptr || s.index >= static_cast<int64_t>(a->size()) || !a->get(s.index)->is_table())
        return invalid_argument("[run.set] '{}': '{}' has no table at index {}", o.path, s.key, s.index);
      t = a->get(s.index)->as_table();
    } else {
      t = n->as_table();
      if (t == nullptr) return invalid_argument("[run.set] '{}': '{}' is not a table", o.path, s.key);
    }
  }
  if (segs.back().index >= 0) return invalid_argument("[run.set] '{}': the last key cannot be indexed", o.path);
  value_doc.get("v")->visit([&](const auto& v) { t->insert_or_assign(segs.back().key, v); });
  return ok_status();
}

nlohmann::json to_json(const toml::node* n) {
  if (n == nullptr) return nullptr;
  toml::table wrap;
  n->visit([&wrap](const auto& v) { wrap.insert_or_assign("v", v); });
  std::ostringstream os;
  os << toml::json_formatter{wrap};
  return nlohmann::json::parse(os.str())["v"];
}

// The TOML each step reads: what its settings hash covers.
nlohmann::json step_settings(const toml::table& root) {
  const toml::node* run = root.get("run");
  const toml::node* seed = run && run->as_table() ? run->as_table()->get("seed") : nullptr;
  nlohmann::json prep = {{"input", to_json(root.get("input"))}, {"prep", to_json(root.get("prep"))},
                         {"mix", to_json(root.get("mix"))}};
  if (root.get("balance")) prep["balance"] = to_json(root.get("balance"));  // absent: hashes as before it existed
  return {{"synth", {{"synth", to_json(root.get("synth"))}}},
          {"prep", prep},
          {"tokenizer", {{"tokenizer", to_json(root.get("tokenizer"))}}},
          {"tokenize", {{"tokenize", to_json(root.get("tokenize"))}}},
          {"train", {{"train", to_json(root.get("train"))}, {"seed", to_json(seed)}}},
          {"eval", {{"eval", to_json(root.get("eval"))}}},
          {"report", nlohmann::json::object()}};
}

Status read_synth(TomlSection s, SynthSource& out) {
  Status err;
  std::string task = "arithmetic", style = "cot", split = "train";
  s.get_choice("task", task, {"arithmetic", "word", "logic", "mix"})
      .get("difficulty", out.options.difficulty)
      .get_choice("style", style, {"cot", "direct"})
      .get_choice("split", split, {"train", "eval", "all"})
      .get("group", out.group)
      .get("unique", out.options.unique);
  s.get_count("n", out.n);
  s.get_count("seed", out.options.seed);
  if (auto k = data::parse_task_kind(task); k.ok()) out.options.kind = *k;
  if (auto v = data::parse_style(style); v.ok()) out.options.style = *v;
  if (auto v = data::parse_split(split); v.ok()) out.options.split = *v;
  if (err.ok() && (out.options.difficulty < data::kMinDifficulty || out.options.difficulty > data::kMaxDifficulty))
    err = invalid_argument("'{}.difficulty' = {} (expected {}..{})", s.path(), out.options.difficulty,
                           data::kMinDifficulty, data::kMaxDifficulty);
  return err;
}

Status read_tokenizer(TomlSection s, TokenizerSettings& t) {
  Status err;
  s.get_count("vocab_size", t.vocab_size);
  s.get_count("min_frequency", t.min_frequency);
  s.get_count("max_token_length", t.max_token_length);
  s.get("specials", t.specials).get_choice("pattern", t.pattern, {"gpt2", "cl100k"}).get("split_digits", t.split_digits);
  if (err.ok() && t.vocab_size < 256 + t.specials.size())
    err = invalid_argument("'tokenizer.vocab_size' = {} must hold the 256 bytes and {} special tokens", t.vocab_size,
                           t.specials.size());
  return err;
}

Status read_eval(TomlSection s, EvalSettings& e) {
  Status err;
  s.get("tasks", e.tasks)
      .get("styles", e.styles)
      .get("limit", e.limit)
      .get("ppl", e.ppl)
      .get("ppl_max_tokens", e.ppl_max_tokens)
      .get("synth_difficulty", e.synth_difficulty)
      .get("max_new_tokens", e.max_new_tokens)
      .get("max_new_tokens_direct", e.max_new_tokens_direct)
      .get("speed", e.speed);
  s.get_count("seed", e.seed);
  for (const std::string& t : e.tasks) {
    if (auto spec = eval::parse_task_spec(t); !spec.ok() && err.ok())
      err = invalid_argument("'eval.tasks': {}", spec.status().message());
  }
  for (const std::string& st : e.styles) {
    if (st != "cot" && st != "direct" && err.ok())
      err = invalid_argument("'eval.styles' holds \"{}\" (expected cot, direct)", st);
  }
  if (e.styles.empty() && err.ok()) err = invalid_argument("'eval.styles' must name at least one style");
  if (err.ok() && (e.synth_difficulty < data::kMinDifficulty || e.synth_difficulty > data::kMaxDifficulty))
    err = invalid_argument("'eval.synth_difficulty' = {} (expected {}..{})", e.synth_difficulty, data::kMinDifficulty,
                           data::kMaxDifficulty);
  return err;
}

Status read_serve(TomlSection s, ServeSettings& v) {
  s.get("enabled", v.enabled)
      .get("host", v.host)
      .get("port", v.port)
      .get("grpc_port", v.grpc_port)
      .get("max_running", v.max_running)
      .get("model_name", v.model_name);
  if (v.port < 0 || v.port > 65535) return invalid_argument("'serve.port' = {} (expected 0..65535)", v.port);
  if (v.grpc_port < -1 || v.grpc_port > 65535)
    return invalid_argument("'serve.grpc_port' = {} (expected -1 for none, or 0..65535)", v.grpc_port);
  if (v.max_running < 1) return invalid_argument("'serve.max_running' = {} (expected >= 1)", v.max_running);
  return ok_status();
}

}  // namespace

Result<Override> parse_override(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    return invalid_argument("[run.set] '{}' is not KEY.PATH=VALUE (e.g. train.schedule.steps=100)", spec);
  return Override{.path = spec.substr(0, eq), .value = spec.substr(eq + 1)};
}

Result<PipelineConfig> parse_pipeline_config(const std::string& text, const std::string& source,
                                             const std::vector<Override>& overrides) {
  toml::table tree;
  try {
    tree = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return invalid_argument("{}:{}:{}: TOML syntax error: {}", source, e.source().begin.line, e.source().begin.column,
                            e.description());
  }
  std::string effective = text;
  if (!overrides.empty()) {
    for (const Override& o : overrides) ANVIL_RETURN_IF_ERROR(apply_override(tree, o));
    std::ostringstream os;
    os << tree;
    effective = os.str();
  }
  const std::string where = overrides.empty() ? source : source + " (with --set)";
  ANVIL_ASSIGN_OR_RETURN(auto doc, TomlDocument::parse(effective, where));
  TomlSection root = doc->root();
  PipelineConfig c;
  c.source = source;
  int64_t seed = static_cast<int64_t>(c.seed);
  root.section("run").require("dir", c.run_dir).get("seed", seed);
  c.seed = static_cast<uint64_t>(seed);

  Status first;
  auto keep = [&first](Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  for (TomlSection s : root.tables("synth")) {
    SynthSource src;
    keep(read_synth(s, src));
    c.synth.push_back(std::move(src));
  }
  for (TomlSection s : root.tables("input")) {
    InputSource in;
    keep(data::read_prep_input(s, "", in.input));
    s.get("split_on", in.split_on);
    c.inputs.push_back(std::move(in));
  }
  keep(data::read_prep_cleaning(root.section("prep"), "", c.prep));
  keep(data::read_prep_mix(root.section("mix"), c.prep));
  keep(data::read_prep_balance(root, effective, where, c.prep));
  keep(read_tokenizer(root.section("tokenizer"), c.tokenizer));
  root.section("tokenize").get("val_fraction", c.tokenize.val_fraction).get("eos", c.tokenize.eos);
  // Pipeline defaults where `anvil train`'s differ: a run validates and checkpoints periodically, so an
  // interrupted train step has a checkpoint to resume from.
  c.train.seed = c.seed;
  c.train.val_every = kDefaultValEvery;
  c.train.checkpoint_every = kDefaultCheckpointEvery;
  keep(train::read_train_config(root.section("train"), train::TrainConfigScope::kPipeline, c.train, c.model_config));
  keep(read_eval(root.section("eval"), c.eval));
  keep(read_serve(root.section("serve"), c.serve));
  ANVIL_RETURN_IF_ERROR(doc->finish());
  if (!first.ok()) return first.with_context(where);
  if (c.synth.empty() && c.inputs.empty())
    return invalid_argument("{}: no data: give at least one [[synth]] or [[input]] table", where);
  if (!(c.tokenize.val_fraction > 0 && c.tokenize.val_fraction < 1))
    return invalid_argument("{}: 'tokenize.val_fraction' = {} must be in (0, 1)", where, c.tokenize.val_fraction);
  c.settings = step_settings(tree);
  if (const toml::table* t = tree["train"].as_table()) {
    std::ostringstream os;
    os << *t;
    c.train_toml = os.str();
  }
  return c;
}

Result<PipelineConfig> load_pipeline_config(const std::string& path, const std::vector<Override>& overrides) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_pipeline_config(text, path, overrides);
}

}  // namespace anvil::pipeline
