// Response JSON for the OpenAI API (see openai.h): whole responses, SSE chunks, errors, the model list.
// Keys keep OpenAI's order (ordered_json); text that is not valid UTF-8 (a token holding part of a
// character) is written with U+FFFD instead of failing (completions logprobs name such a token
// "bytes:\xNN..." instead). Shapes: the API reference's "completion object", "chat completion object" and
// "chat completion chunk object", logprobs with top_logprobs included. The streamed text chunk, written once
// per token per stream, is also written without building a json tree (append_sse_text_chunk): the same
// bytes, with strings escaped as nlohmann's dump does and numbers through its own to_chars.
#include <array>
#include <cmath>
#include <iterator>

#include <nlohmann/json.hpp>

#include "anvil/serve/openai.h"

namespace anvil::serve {
namespace {

using ojson = nlohmann::ordered_json;

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string sse(const ojson& j) { return "data: " + dump(j) + "\n\n"; }

ojson null_or(const std::string& s) { return s.empty() ? ojson(nullptr) : ojson(s); }

ojson usage(int64_t n_prompt, int64_t n_completion) {
  return {{"prompt_tokens", n_prompt}, {"completion_tokens", n_completion}, {"total_tokens", n_prompt + n_completion}};
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) n = 0, cp = c;
    else if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07, min = 0x10000;
    else return false;
    if (i + n >= s.size()) return false;  // the sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (n > 0 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) return false;
    i += n + 1;
  }
  return true;
}

// A token's name in /v1/completions logprobs: its text, or "bytes:\xNN..." when it is not UTF-8 on its own.
std::string completion_token(const std::string& bytes) {
  if (valid_utf8(bytes)) return bytes;
  std::string out = "bytes:";
  for (unsigned char c : bytes) out += fmt::format("\\x{:02x}", c);
  return out;
}

// /v1/completions logprobs: parallel arrays; text_offset is where each token's text starts. top_logprobs:
// null when not asked for, else per position {token: logprob} of the most likely tokens and the chosen one.
// An echoed prompt's first token has null for its logprob and its top_logprobs (nothing predicts it).
ojson completion_logprobs(const std::vector<TokenLogprob>& lps, size_t text_offset, int64_t n_top) {
  ojson tokens = ojson::array(), values = ojson::array(), offsets = ojson::array();
  ojson tops = n_top > 0 ? ojson::array() : ojson(nullptr);
  for (const TokenLogprob& t : lps) {
    const std::string name = completion_token(t.token);
    tokens.push_back(name);
    values.push_back(t.unscored ? ojson(nullptr) : ojson(t.logprob));
    offsets.push_back(text_offset);
    text_offset += t.token.size();
    if (n_top == 0) continue;
    if (t.unscored) {
      tops.push_back(nullptr);
      continue;
    }
    ojson top = ojson::object();
    for (const TokenLogprob& alt : t.top) top[completion_token(alt.token)] = alt.logprob;
    if (!top.contains(name)) top[name] = t.logprob;
    tops.push_back(std::move(top));
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

ojson byte_array(const std::string& s) {
  ojson bytes = ojson::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// /v1/chat/completions logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
ojson chat_logprobs(const std::vector<TokenLogprob>& lps) {
  ojson content = ojson::array();
  for (const TokenLogprob& t : lps) {
    ojson top = ojson::array();
    for (const TokenLogprob& alt : t.top)
      top.push_back({{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", byte_array(alt.token)}});
    content.push_back({{"token", t.token}, {"logprob", t.logprob}, {"bytes", byte_array(t.token)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// A JSON string literal as dump() writes it (ensure_ascii off): well-formed UTF-8 is escaped here (quote,
// backslash and control characters; \b \t \n \f \r by name, the others as \u00xx); anything else goes through
// nlohmann's serializer, which replaces invalid bytes with U+FFFD.
void append_json_string(std::string& out, std::string_view s) {
  if (!valid_utf8(s)) {
    out += dump(ojson(std::string(s)));
    return;
  }
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        constexpr char kHex[] = "0123456789abcdef";
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, sizeof(esc));
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// A number as dump() writes a float (json stores it as a double): null when not finite.
void append_json_number(std::string& out, double x) {
  if (!std::isfinite(x)) {
    out += "null";
    return;
  }
  std::array<char, 64> buf;
  const char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), x);
  out.append(buf.data(), static_cast<size_t>(end - buf.data()));
}

template <typename Int>
void append_json_int(std::string& out, Int v) {
  fmt::format_to(std::back_inserter(out), "{}", v);
}

void append_byte_array(std::string& out, std::string_view s) {
  out += '[';
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ',';
    append_json_int(out, static_cast<int>(static_cast<unsigned char>(s[i])));
  }
  out += ']';
}

// chat_logprobs(lps) written directly.
void append_chat_logprobs(std::string& out, const std::vector<TokenLogprob>& lps) {
  out += "{\"content\":[";
  for (size_t i = 0; i < lps.size(); ++i) {
    const TokenLogprob& t = lps[i];
    if (i > 0) out += ',';
    out += "{\"token\":";
    append_json_string(out, t.token);
    out += ",\"logprob\":";
    append_json_number(out, t.logprob);
    out += ",\"bytes\":";
    append_byte_array(out, t.token);
    out += ",\"top_logprobs\":[";
    for (size_t k = 0; k < t.top.size(); ++k) {
      if (k > 0) out += ',';
      out += "{\"token\":";
      append_json_string(out, t.top[k].token);
      out += ",\"logprob\":";
      append_json_number(out, t.top[k].logprob);
      out += ",\"bytes\":";
      append_byte_array(out, t.top[k].token);
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
}

// completion_logprobs(lps, text_offset, 0) written directly (top_logprobs null).
void append_completion_logprobs(std::string& out, const std::vector<TokenLogprob>& lps, size_t text_offset) {
  out += "{\"tokens\":[";
  for (size_t i = 0; i < lps.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, completion_token(lps[i].token));
  }
  out += "],\"token_logprobs\":[";
  for (size_t i = 0; i < lps.size(); ++i) {
    if (i > 0) out += ',';
    if (lps[i].unscored) out += "null";
    else append_json_number(out, lps[i].logprob);
  }
  out += "],\"top_logprobs\":null,\"text_offset\":[";
  for (size_t i = 0; i < lps.size(); ++i) {
    if (i > 0) out += ',';
    append_json_int(out, text_offset);
    text_offset += lps[i].token.size();
  }
  out += "]}";
}

ojson chunk_head(ApiKind kind, const ResponseMeta& meta) {
  return {{"id", meta.id},
          {"object", kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", meta.created},
          {"model", meta.model}};
}

}  // namespace

std::string error_body(const ApiError& e) {
  ojson j = {{"error",
              {{"message", e.message}, {"type", e.type}, {"param", null_or(e.param)}, {"code", null_or(e.code)}}}};
  return dump(j);
}

ApiError api_error(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return {.http_status = 400, .message = s.message()};
    case StatusCode::kNotFound:
      return {.http_status = 404, .message = s.message(), .code = "not_found"};
    case StatusCode::kResourceExhausted:
      return {.http_status = 429, .message = s.message(), .type = "rate_limit_error", .code = "queue_full"};
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      return {.http_status = 503, .message = s.message(), .type = "server_error", .code = "unavailable"};
    default:
      return {.http_status = 500, .message = s.message(), .type = "server_error", .code = "internal_error"};
  }
}

std::string response_body(ApiKind kind, const ResponseMeta& meta, std::span<const CompletionResult> choices,
                          int64_t n_prompt_tokens) {
  ojson list = ojson::array();
  int64_t n_completion = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const CompletionResult& r = choices[i];
    const char* finish = infer::finish_reason_name(r.finish);
    n_completion += r.n_completion_tokens;
    if (kind == ApiKind::kChat) {
      list.push_back({{"index", i},
                      {"message", {{"role", "assistant"}, {"content", r.text}, {"refusal", nullptr}}},
                      {"logprobs", r.with_logprobs ? chat_logprobs(r.logprobs) : ojson(nullptr)},
                      {"finish_reason", finish}});
    } else {
      list.push_back(
          {{"text", r.text},
           {"index", i},
           {"logprobs", r.with_logprobs ? completion_logprobs(r.logprobs, r.text_offset, meta.top_logprobs) : ojson(nullptr)},
           {"finish_reason", finish}});
    }
  }
  ojson j = {{"id", meta.id},
             {"object", kind == ApiKind::kChat ? "chat.completion" : "text_completion"},
             {"created", meta.created},
             {"model", meta.model},
             {"choices", std::move(list)},
             {"usage", usage(n_prompt_tokens, n_completion)}};
  return dump(j);
}

std::string response_body(ApiKind kind, const ResponseMeta& meta, const CompletionResult& r) {
  return response_body(kind, meta, std::span<const CompletionResult>(&r, 1), r.n_prompt_tokens);
}

std::string sse_role_chunk(const ResponseMeta& meta, bool include_usage, int64_t index) {
  ojson j = chunk_head(ApiKind::kChat, meta);
  j["choices"] = ojson::array({{{"index", index},
                                {"delta", {{"role", "assistant"}, {"content", ""}}},
                                {"logprobs", nullptr},
                                {"finish_reason", nullptr}}});
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

void append_sse_text_chunk(std::string& out, ApiKind kind, const ResponseMeta& meta, std::string_view text,
                           const std::vector<TokenLogprob>* logprobs, size_t text_offset, bool include_usage,
                           int64_t index) {
  if (logprobs && kind == ApiKind::kCompletion && meta.top_logprobs > 0) {  // {token: logprob} objects
    out += sse_text_chunk_reference(kind, meta, text, logprobs, text_offset, include_usage, index);
    return;
  }
  const bool chat = kind == ApiKind::kChat;
  out += "data: {\"id\":";
  append_json_string(out, meta.id);
  out += chat ? ",\"object\":\"chat.completion.chunk\",\"created\":" : ",\"object\":\"text_completion\",\"created\":";
  append_json_int(out, meta.created);
  out += ",\"model\":";
  append_json_string(out, meta.model);
  if (chat) {
    out += ",\"choices\":[{\"index\":";
    append_json_int(out, index);
    out += ",\"delta\":{\"content\":";
    append_json_string(out, text);
    out += "},\"logprobs\":";
    if (logprobs) append_chat_logprobs(out, *logprobs);
    else out += "null";
  } else {
    out += ",\"choices\":[{\"text\":";
    append_json_string(out, text);
    out += ",\"index\":";
    append_json_int(out, index);
    out += ",\"logprobs\":";
    if (logprobs) append_completion_logprobs(out, *logprobs, text_offset);
    else out += "null";
  }
  out += ",\"finish_reason\":null}]";
  if (include_usage) out += ",\"usage\":null";
  out += "}\n\n";
}

std::string sse_text_chunk(ApiKind kind, const ResponseMeta& meta, std::string_view text,
                           const std::vector<TokenLogprob>* logprobs, size_t text_offset, bool include_usage,
                           int64_t index) {
  std::string out;
  append_sse_text_chunk(out, kind, meta, text, logprobs, text_offset, include_usage, index);
  return out;
}

std::string sse_text_chunk_reference(ApiKind kind, const ResponseMeta& meta, std::string_view text,
                                     const std::vector<TokenLogprob>* logprobs, size_t text_offset,
                                     bool include_usage, int64_t index) {
  ojson j = chunk_head(kind, meta);
  ojson choice;
  if (kind == ApiKind::kChat) {
    choice = {{"index", index},
              {"delta", {{"content", text}}},
              {"logprobs", logprobs ? chat_logprobs(*logprobs) : ojson(nullptr)},
              {"finish_reason", nullptr}};
  } else {
    choice = {{"text", text},
              {"index", index},
              {"logprobs", logprobs ? completion_logprobs(*logprobs, text_offset, meta.top_logprobs) : ojson(nullptr)},
              {"finish_reason", nullptr}};
  }
  j["choices"] = ojson::array({choice});
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

std::string sse_finish_chunk(ApiKind kind, const ResponseMeta& meta, infer::FinishReason finish, bool include_usage,
                             int64_t index) {
  ojson j = chunk_head(kind, meta);
  const char* reason = infer::finish_reason_name(finish);
  if (kind == ApiKind::kChat)
    j["choices"] =
        ojson::array({{{"index", index}, {"delta", ojson::object()}, {"logprobs", nullptr}, {"finish_reason", reason}}});
  else
    j["choices"] = ojson::array({{{"text", ""}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", reason}}});
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

std::string sse_usage_chunk(ApiKind kind, const ResponseMeta& meta, int64_t n_prompt, int64_t n_completion) {
  ojson j = chunk_head(kind, meta);
  j["choices"] = ojson::array();
  j["usage"] = usage(n_prompt, n_completion);
  return sse(j);
}

std::string sse_error_chunk(const ApiError& e) { return "data: " + error_body(e) + "\n\n"; }

std::string model_body(const std::string& model, int64_t created) {
  return dump(ojson{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "anvil"}});
}

std::string models_body(const std::string& model, int64_t created) {
  ojson j = {{"object", "list"},
             {"data", ojson::array({{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "anvil"}}})}};
  return dump(j);
}

}  // namespace anvil::serve
