// Imports of OpenAI vocabularies: GPT-2 encoder.json (byte-level string -> id) + vocab.bpe (merges, one
// "a b" per line after "#version"), and tiktoken rank files ("<base64 bytes> <rank>" per line), whose
// merges are recovered as HF's converter does: token r is the last merge of BPE over its own bytes with
// ranks < r, which must end in exactly two parts.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

#include "anvil/base/file.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::tok {
namespace {

bool base64_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int n_pad = 0;
    for (int k = 0; k < 4; ++k) {
      if (in[i + k] == '=' && i + 4 == in.size() && k >= 2) { v[k] = 0; ++n_pad; continue; }
      if (n_pad) return false;
      v[k] = val(in[i + k]);
      if (v[k] < 0) return false;
    }
    uint32_t x = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(x >> 16));
    if (n_pad < 2) out.push_back(static_cast<char>((x >> 8) & 0xFF));
    if (n_pad < 1) out.push_back(static_cast<char>(x & 0xFF));
  }
  return true;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t i = 0;
  while (i < text.size()) {
    size_t e = text.find('\n', i);
    if (e == std::string_view::npos) e = text.size();
    std::string_view line = text.substr(i, e - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    i = e + 1;
  }
  return lines;
}

}  // namespace

Result<Tokenizer> parse_gpt2(std::string_view encoder_json, std::string_view vocab_bpe, const ImportOptions& opt,
                             const std::string& origin) {
  const std::string where = "[tokenizer.import_gpt2] '" + origin + "'";
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(encoder_json);
  } catch (const nlohmann::json::parse_error& e) {
    return invalid_argument("{}: encoder.json is not valid JSON at byte {}", where, e.byte);
  }
  if (!enc.is_object()) return invalid_argument("{}: encoder.json is not a JSON object", where);
  TokenizerParts parts;
  parts.pretokenizer = opt.pretokenizer;
  parts.tokens.resize(enc.size());
  std::vector<uint8_t> seen(enc.size(), 0);
  std::unordered_map<std::string, uint32_t> ids;
  for (auto it = enc.begin(); it != enc.end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() >= enc.size())
      return invalid_argument("{}: encoder.json['{}'] = {}: ids must be dense 0..{}", where, it.key(), it.value().dump(),
                              enc.size() - 1);
    const auto id = it.value().get<uint32_t>();
    if (seen[id]) return invalid_argument("{}: encoder.json id {} is used twice", where, id);
    seen[id] = 1;
    ids.emplace(it.key(), id);
    if (std::find(opt.special_tokens.begin(), opt.special_tokens.end(), it.key()) != opt.special_tokens.end()) {
      parts.tokens[id] = it.key();
      parts.special_ids.push_back(id);
    } else if (!byte_level_to_bytes(it.key(), parts.tokens[id])) {
      return invalid_argument("{}: encoder.json['{}'] (id {}) has a character outside the byte-level alphabet", where,
                              it.key(), id);
    }
  }
  std::sort(parts.special_ids.begin(), parts.special_ids.end());
  const auto lines = split_lines(vocab_bpe);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
      return invalid_argument("{}: vocab.bpe line {}: '{}' is not two tokens separated by one space", where, i + 1, line);
    auto a = ids.find(std::string(line.substr(0, sp)));
    auto b = ids.find(std::string(line.substr(sp + 1)));
    if (a == ids.end() || b == ids.end())
      return invalid_argument("{}: vocab.bpe line {}: '{}' is not in encoder.json", where, i + 1,
                              a == ids.end() ? line.substr(0, sp) : line.substr(sp + 1));
    parts.merges.push_back({a->second, b->second});
  }
  auto t = Tokenizer::create(std::move(parts));
  if (!t.ok()) return t.status().with_context(where);
  return t;
}

Result<Tokenizer> import_gpt2(const std::string& encoder_json_path, const std::string& vocab_bpe_path,
                              const ImportOptions& opt) {
  ANVIL_ASSIGN_OR_RETURN(std::string enc, read_file(encoder_json_path));
  ANVIL_ASSIGN_OR_RETURN(std::string bpe, read_file(vocab_bpe_path));
  return parse_gpt2(enc, bpe, opt, encoder_json_path);
}

Result<Tokenizer> parse_tiktoken(std::string_view text, const ImportOptions& opt, const std::string& origin) {
  const std::string where = "[tokenizer.import_tiktoken] '" + origin + "'";
  TokenizerParts parts;
  parts.pretokenizer = opt.pretokenizer;
  std::vector<std::pair<uint32_t, std::string>> ranked;
  const auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    uint32_t rank = 0;
    std::string bytes;
    const char* rb = line.data() + sp + 1;
    if (sp == std::string_view::npos || std::from_chars(rb, line.data() + line.size(), rank).ptr != line.data() + line.size())
      return invalid_argument("{}: line {}: expected '<base64> <rank>', got '{}'", where, i + 1, line.substr(0, 80));
    if (!base64_decode(line.substr(0, sp), bytes) || bytes.empty())
      return invalid_argument("{}: line {}: '{}' is not valid non-empty base64", where, i + 1, line.substr(0, sp));
    ranked.emplace_back(rank, std::move(bytes));
  }
  std::sort(ranked.begin(), ranked.end());
  for (size_t r = 0; r < ranked.size(); ++r) {
    if (ranked[r].first != r)
      return invalid_argument("{}: ranks must be dense 0..{}; rank {} is {}", where, ranked.size() - 1, r,
                              ranked[r].first < r ? "repeated" : "missing");
    parts.tokens.push_back(std::move(ranked[r].second));
  }
  std::unordered_map<std::string, uint32_t> rank_of;
  for (uint32_t r = 0; r < parts.tokens.size(); ++r) rank_of.emplace(parts.tokens[r], r);
  // recover merges in rank order
  std::vector<std::string> part;
  for (uint32_t r = 0; r < parts.tokens.size(); ++r) {
    const std::string& tok = parts.tokens[r];
    if (tok.size() < 2) continue;
    part.clear();
    for (char c : tok) part.emplace_back(1, c);
    while (part.size() > 2) {
      uint32_t best = UINT32_MAX;
      size_t bi = 0;
      for (size_t i = 0; i + 1 < part.size(); ++i) {
        auto it = rank_of.find(part[i] + part[i + 1]);
        if (it != rank_of.end() && it->second < r && it->second < best) { best = it->second; bi = i; }
      }
      if (best == UINT32_MAX) break;
      part[bi] += part[bi + 1];
      part.erase(part.begin() + static_cast<ptrdiff_t>(bi) + 1);
    }
    auto a = rank_of.find(part[0]);
    auto b = part.size() == 2 ? rank_of.find(part[1]) : rank_of.end();
    if (part.size() != 2 || a == rank_of.end() || b == rank_of.end())
      return invalid_argument("{}: token of rank {} ('{}') is not the merge of two lower-ranked tokens", where, r,
                              bytes_to_byte_level(tok));
    parts.merges.push_back({a->second, b->second});
  }
  for (const std::string& spec : opt.special_tokens) {
    std::string content = spec;
    const size_t eq = spec.rfind('=');
    uint32_t id = static_cast<uint32_t>(parts.tokens.size());
    if (eq != std::string::npos && eq + 1 < spec.size() &&
        std::from_chars(spec.data() + eq + 1, spec.data() + spec.size(), id).ptr == spec.data() + spec.size()) {
      content = spec.substr(0, eq);
      if (id != parts.tokens.size())
        return invalid_argument("{}: special token '{}' asks for id {}, but the next free id is {} (ids stay dense)",
                                where, content, id, parts.tokens.size());
    }
    parts.special_ids.push_back(static_cast<uint32_t>(parts.tokens.size()));
    parts.tokens.push_back(content);
  }
  auto t = Tokenizer::create(std::move(parts));
  if (!t.ok()) return t.status().with_context(where);
  return t;
}

Result<Tokenizer> import_tiktoken(const std::string& ranks_path, const ImportOptions& opt) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(ranks_path));
  return parse_tiktoken(text, opt, ranks_path);
}

}  // namespace anvil::tok
