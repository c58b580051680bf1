// Hugging Face tokenizer.json read/write for byte-level BPE (see formats.h). Reads the pre-tokenizer
// forms anvil can reproduce exactly: ByteLevel(use_regex) = GPT-2 regex, or Sequence[Split(regex,
// Isolated), Digits(individual)?, ByteLevel(use_regex=false)] with the GPT-2 or cl100k regex. Anything
// else (normalizers, byte_fallback, dropout, WordPiece...) is refused with a message naming the field.
#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::tok {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

std::string kind_of(const json& j) { return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : j.dump(); }

Status parse_pretokenizer(const json& pt, PreTokenizerConfig& cfg, const std::string& where) {
  auto byte_level_ok = [&](const json& b, bool want_regex) -> Status {
    if (b.value("add_prefix_space", false))
      return unimplemented("{}: pre_tokenizer ByteLevel add_prefix_space=true is not supported", where);
    if (b.value("use_regex", true) != want_regex)
      return unimplemented("{}: pre_tokenizer ByteLevel use_regex={} is not supported here", where, !want_regex);
    return ok_status();
  };
  if (pt.is_null()) return invalid_argument("{}: pre_tokenizer is null; byte-level BPE needs ByteLevel", where);
  const std::string type = kind_of(pt);
  if (type == "ByteLevel") {
    ANVIL_RETURN_IF_ERROR(byte_level_ok(pt, true));
    cfg = PreTokenizerConfig{};
    return ok_status();
  }
  if (type != "Sequence" || !pt.contains("pretokenizers") || !pt["pretokenizers"].is_array())
    return unimplemented("{}: pre_tokenizer '{}' is not supported (ByteLevel or Sequence of Split/Digits/ByteLevel)",
                         where, type);
  const json& seq = pt["pretokenizers"];
  bool have_split = false, have_byte_level = false;
  cfg = PreTokenizerConfig{};
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string t = kind_of(seq[i]);
    if (t == "Split" && !have_split) {
      std::string re = seq[i].contains("pattern") && seq[i]["pattern"].is_object()
                           ? seq[i]["pattern"].value("Regex", std::string()) : std::string();
      if (re == pattern_regex(Pattern::kGpt2)) cfg.pattern = Pattern::kGpt2;
      else if (re == pattern_regex(Pattern::kCl100k)) cfg.pattern = Pattern::kCl100k;
      else return unimplemented("{}: pre_tokenizer.pretokenizers[{}]: Split regex '{}' is not one anvil implements "
                                "(gpt2 or cl100k)", where, i, re);
      if (seq[i].value("behavior", std::string()) != "Isolated" || seq[i].value("invert", false))
        return unimplemented("{}: pre_tokenizer.pretokenizers[{}]: Split needs behavior Isolated, invert false", where, i);
      have_split = true;
    } else if (t == "Digits" && have_split && !have_byte_level) {
      if (!seq[i].value("individual_digits", false))
        return unimplemented("{}: pre_tokenizer.pretokenizers[{}]: Digits individual_digits=false is not supported", where, i);
      cfg.digits = DigitSplit::kIndividual;
    } else if (t == "ByteLevel" && have_split && !have_byte_level) {
      ANVIL_RETURN_IF_ERROR(byte_level_ok(seq[i], false));
      have_byte_level = true;
    } else {
      return unimplemented("{}: pre_tokenizer.pretokenizers[{}] '{}' is not supported in this position", where, i, t);
    }
  }
  if (!have_split || !have_byte_level)
    return unimplemented("{}: pre_tokenizer Sequence needs a Split and a ByteLevel", where);
  return ok_status();
}

Result<Merge> parse_merge(const json& m, size_t i, const std::unordered_map<std::string, uint32_t>& ids,
                          const std::string& where) {
  std::string a, b;
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
      return invalid_argument("{}: model.merges[{}] '{}' is not two tokens separated by one space", where, i, s);
    a = s.substr(0, sp);
    b = s.substr(sp + 1);
  } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    a = m[0].get<std::string>();
    b = m[1].get<std::string>();
  } else {
    return invalid_argument("{}: model.merges[{}] is {}, expected \"a b\" or [\"a\", \"b\"]", where, i, m.dump());
  }
  auto ia = ids.find(a), ib = ids.find(b);
  if (ia == ids.end()) return invalid_argument("{}: model.merges[{}]: '{}' is not in model.vocab", where, i, a);
  if (ib == ids.end()) return invalid_argument("{}: model.merges[{}]: '{}' is not in model.vocab", where, i, b);
  return Merge{ia->second, ib->second};
}

}  // namespace

Result<Tokenizer> parse_tokenizer_json(std::string_view text, const std::string& origin, MissingBytes missing) {
  const std::string where = "[tokenizer.load] '" + origin + "'";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return invalid_argument("{}: not valid JSON at byte {}: {}", where, e.byte, e.what());
  }
  if (!j.is_object()) return invalid_argument("{}: top level is not a JSON object", where);
  if (!j.contains("model") || !j["model"].is_object()) return invalid_argument("{}: no 'model' object", where);
  const json& model = j["model"];
  if (model.value("type", std::string("BPE")) != "BPE")
    return unimplemented("{}: model.type is '{}'; anvil reads only byte-level 'BPE'", where, kind_of(model));
  if (model.contains("byte_fallback") && model["byte_fallback"].is_boolean() && model["byte_fallback"].get<bool>())
    return unimplemented("{}: model.byte_fallback=true is not supported", where);
  for (const char* f : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(f) && !model[f].is_null() && !(model[f].is_string() && model[f].get<std::string>().empty()))
      return unimplemented("{}: model.{} is set; byte-level BPE uses none", where, f);
  if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
    return unimplemented("{}: model.dropout > 0 is not supported", where);
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    return unimplemented("{}: normalizer '{}' is not supported (byte-level BPE uses none)", where, kind_of(j["normalizer"]));
  if (j.contains("decoder") && !j["decoder"].is_null() && kind_of(j["decoder"]) != "ByteLevel")
    return unimplemented("{}: decoder '{}' is not supported (ByteLevel only)", where, kind_of(j["decoder"]));

  TokenizerParts parts;
  ANVIL_RETURN_IF_ERROR(parse_pretokenizer(j.value("pre_tokenizer", json()), parts.pretokenizer, where));
  parts.ignore_merges = model.value("ignore_merges", false);
  parts.missing_bytes = missing;

  if (!model.contains("vocab") || !model["vocab"].is_object())
    return invalid_argument("{}: model.vocab is missing or not an object", where);
  std::unordered_map<uint32_t, std::string> added;  // id -> content
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) return invalid_argument("{}: added_tokens is not an array", where);
    for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& a = j["added_tokens"][i];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") ||
          !a["content"].is_string() || a["content"].get<std::string>().empty())
        return invalid_argument("{}: added_tokens[{}] needs an unsigned 'id' and a non-empty 'content'", where, i);
      added[a["id"].get<uint32_t>()] = a["content"].get<std::string>();
    }
  }
  const json& vocab = model["vocab"];
  std::unordered_map<std::string, uint32_t> ids;  // byte-level string -> id
  std::vector<std::string> tokens(vocab.size() + added.size());
  std::vector<uint8_t> seen(tokens.size(), 0);
  size_t max_id = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_unsigned())
      return invalid_argument("{}: model.vocab['{}'] is {}, expected an unsigned id", where, it.key(), it.value().dump());
    const uint64_t id = it.value().get<uint64_t>();
    if (id >= tokens.size())
      return invalid_argument("{}: model.vocab['{}'] = {}: ids must be dense 0..{}", where, it.key(), id, tokens.size() - 1);
    if (seen[id]) return invalid_argument("{}: model.vocab id {} is used twice (second: '{}')", where, id, it.key());
    seen[id] = 1;
    max_id = std::max<size_t>(max_id, id);
    ids.emplace(it.key(), static_cast<uint32_t>(id));
    if (added.count(static_cast<uint32_t>(id))) continue;
    if (!byte_level_to_bytes(it.key(), tokens[id]))
      return invalid_argument("{}: model.vocab['{}'] (id {}) has a character outside the byte-level alphabet", where,
                              it.key(), id);
  }
  for (const auto& [id, content] : added) {
    if (id >= tokens.size())
      return invalid_argument("{}: added token '{}' has id {}; ids must be dense 0..{}", where, content, id, tokens.size() - 1);
    seen[id] = 1;
    max_id = std::max<size_t>(max_id, id);
    tokens[id] = content;
    parts.special_ids.push_back(id);
  }
  tokens.resize(max_id + 1);
  for (size_t id = 0; id < tokens.size(); ++id)
    if (!seen[id]) return invalid_argument("{}: no token has id {}; ids must be dense 0..{}", where, id, max_id);
  parts.tokens = std::move(tokens);
  std::sort(parts.special_ids.begin(), parts.special_ids.end());

  if (!model.contains("merges") || !model["merges"].is_array())
    return invalid_argument("{}: model.merges is missing or not an array", where);
  const json& merges = model["merges"];
  for (size_t i = 0; i < merges.size(); ++i) {
    if (merges[i].is_string() && merges[i].get<std::string>().rfind("#version", 0) == 0) continue;
    ANVIL_ASSIGN_OR_RETURN(Merge m, parse_merge(merges[i], i, ids, where));
    parts.merges.push_back(m);
  }
  auto t = Tokenizer::create(std::move(parts));
  if (!t.ok()) return t.status().with_context(where);
  return t;
}

Result<Tokenizer> load_tokenizer_json(const std::string& path, MissingBytes missing) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_tokenizer_json(text, path, missing);
}

std::string to_tokenizer_json(const Tokenizer& t, MergesForm form) {
  const TokenizerParts& p = t.parts();
  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  ojson added = ojson::array();
  for (uint32_t id : p.special_ids)
    added.push_back(ojson{{"id", id}, {"content", p.tokens[id]}, {"single_word", false}, {"lstrip", false},
                          {"rstrip", false}, {"normalized", false}, {"special", true}});
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  const ojson byte_level_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                                  {"use_regex", true}};
  if (p.pretokenizer.pattern == Pattern::kGpt2 && p.pretokenizer.digits == DigitSplit::kNone) {
    j["pre_tokenizer"] = byte_level_regex;
  } else {
    ojson seq = ojson::array();
    seq.push_back({{"type", "Split"}, {"pattern", {{"Regex", pattern_regex(p.pretokenizer.pattern)}}},
                   {"behavior", "Isolated"}, {"invert", false}});
    if (p.pretokenizer.digits == DigitSplit::kIndividual) seq.push_back({{"type", "Digits"}, {"individual_digits", true}});
    seq.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", seq}};
  }
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  j["decoder"] = byte_level_regex;
  ojson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = p.ignore_merges;
  ojson vocab = ojson::object();
  std::vector<std::string> level(p.tokens.size());
  for (uint32_t id = 0; id < p.tokens.size(); ++id) {
    if (t.is_special(id)) continue;
    level[id] = bytes_to_byte_level(p.tokens[id]);
    vocab[level[id]] = id;
  }
  model["vocab"] = std::move(vocab);
  ojson merges = ojson::array();
  for (const Merge& m : p.merges) {
    if (form == MergesForm::kPairs) merges.push_back(ojson::array({level[m.left], level[m.right]}));
    else merges.push_back(level[m.left] + " " + level[m.right]);
  }
  model["merges"] = std::move(merges);
  j["model"] = std::move(model);
  return j.dump(2, ' ', false, ojson::error_handler_t::strict);
}

Status save_tokenizer_json(const Tokenizer& t, const std::string& path, MergesForm form) {
  return write_file_atomic(path, to_tokenizer_json(t, form));
}

}  // namespace anvil::tok
