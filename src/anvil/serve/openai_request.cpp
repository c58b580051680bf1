// parse_request (see openai.h): one pass over the body's fields, each checked for type and range the way
// OpenAI's API does (ranges from its reference: temperature [0, 2], top_p (0, 1], penalties [-2, 2],
// n = 1, at most 4 stop strings, completions logprobs [0, 5], chat top_logprobs [0, 20] only with
// logprobs: true). Extensions: top_k, repetition_penalty. Every error is a 400 naming the
// field (param) and the value it got.
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <limits>

#include "anvil/serve/openai.h"

namespace anvil::serve {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxStopStrings = 4;    // OpenAI's limit on `stop`
constexpr size_t kMaxStopBytes = 256;    // one stop string
constexpr double kMaxTemperature = 2.0;
constexpr double kMaxAbsPenalty = 2.0;   // frequency / presence (OpenAI's range)
constexpr double kMaxRepetitionPenalty = 10.0;
constexpr int64_t kMaxCompletionLogprobs = 5;  // OpenAI's limit on /v1/completions `logprobs`

const char* endpoint_name(ApiKind kind) {
  return kind == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions";
}

// A short rendering of a JSON value for messages (long strings and containers cut).
std::string show(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kShown = 64;
  if (s.size() > kShown) s = s.substr(0, kShown) + "...";
  return s;
}

class Parser {
 public:
  Parser(ApiKind kind, const ApiLimits& limits) : kind_(kind), limits_(limits) {}

  ApiResult<ApiRequest> parse(std::string_view body);

 private:
  ApiError bad(const std::string& param, const std::string& what) const {
    return ApiError{.http_status = 400,
                    .message = fmt::format("[{}] '{}' {}", endpoint_name(kind_), param, what),
                    .param = param};
  }
  // A number in [lo, hi] (or (lo, hi] when lo_open).
  std::optional<ApiError> number(const std::string& key, const json& v, double lo, double hi, bool lo_open,
                                 float& out) const {
    const auto range = fmt::format("{}{}, {}]", lo_open ? "(" : "[", lo, hi);
    if (!v.is_number()) return bad(key, fmt::format("must be a number in {}, got {}", range, show(v)));
    const double x = v.get<double>();
    if (!std::isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi)
      return bad(key, fmt::format("must be in {}, got {}", range, show(v)));
    out = static_cast<float>(x);
    return std::nullopt;
  }
  std::optional<ApiError> integer(const std::string& key, const json& v, int64_t lo, int64_t hi, int64_t& out) const {
    if (!v.is_number_integer())
      return bad(key, fmt::format("must be an integer in [{}, {}], got {}", lo, hi, show(v)));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return bad(key, fmt::format("must be in [{}, {}], got {}", lo, hi, show(v)));
    const auto x = v.get<int64_t>();
    if (x < lo || x > hi) return bad(key, fmt::format("must be in [{}, {}], got {}", lo, hi, x));
    out = x;
    return std::nullopt;
  }
  std::optional<ApiError> boolean(const std::string& key, const json& v, bool& out) const {
    if (!v.is_boolean()) return bad(key, fmt::format("must be a boolean, got {}", show(v)));
    out = v.get<bool>();
    return std::nullopt;
  }
  std::optional<ApiError> field(const std::string& key, const json& v, ApiRequest& r);
  std::optional<ApiError> prompt(const json& v, ApiRequest& r) const;
  std::optional<ApiError> messages(const json& v, ApiRequest& r) const;
  std::optional<ApiError> stop(const json& v, ApiRequest& r) const;

  ApiKind kind_;
  ApiLimits limits_;
  std::optional<int64_t> max_tokens_, max_completion_tokens_;
  bool have_prompt_ = false, have_stream_options_ = false, chat_logprobs_ = false, have_top_logprobs_ = false;
  std::optional<int64_t> best_of_;
};

// Prompts: a string, token ids (an array of integers), or an array of several of either.
std::optional<ApiError> Parser::prompt(const json& v, ApiRequest& r) const {
  auto ids = [&](const json& a, const std::string& key) -> std::optional<ApiError> {
    std::vector<int32_t> out;
    out.reserve(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      int64_t id = 0;
      if (auto e = integer(fmt::format("{}[{}]", key, i), a[i], 0, std::numeric_limits<int32_t>::max(), id)) return e;
      out.push_back(static_cast<int32_t>(id));
    }
    if (out.empty()) return bad(key, "is an empty array of token ids");
    r.prompts.push_back({.ids = std::move(out)});
    return std::nullopt;
  };
  const std::string expected = "a string, token ids (an array of integers), or an array of strings or of token-id arrays";
  if (v.is_string()) {
    r.prompts.push_back({.text = v.get<std::string>()});
    return std::nullopt;
  }
  if (!v.is_array() || v.empty()) return bad("prompt", fmt::format("must be {}, got {}", expected, show(v)));
  if (v[0].is_number()) return ids(v, "prompt");
  if (static_cast<int64_t>(v.size()) > kMaxChoices)
    return bad("prompt", fmt::format("holds {} prompts; this server takes at most {}", v.size(), kMaxChoices));
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string key = fmt::format("prompt[{}]", i);
    if (v[i].is_string()) r.prompts.push_back({.text = v[i].get<std::string>()});
    else if (v[i].is_array()) {
      if (auto e = ids(v[i], key)) return e;
    } else {
      return bad(key, fmt::format("must be a string or an array of token ids, got {}", show(v[i])));
    }
  }
  return std::nullopt;
}

std::optional<ApiError> Parser::messages(const json& v, ApiRequest& r) const {
  if (!v.is_array() || v.empty())
    return bad("messages", fmt::format("must be a non-empty array of messages, got {}", show(v)));
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) return bad(at, fmt::format("must be an object with role and content, got {}", show(m)));
    infer::ChatMessage msg;
    bool have_role = false;
    for (const auto& [key, val] : m.items()) {
      if (key == "role") {
        if (!val.is_string()) return bad(at + ".role", fmt::format("must be a string, got {}", show(val)));
        msg.role = val.get<std::string>();
        if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for the system role
        if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
          return bad(at + ".role", fmt::format("must be system, developer, user or assistant, got {}", show(val)));
        have_role = true;
      } else if (key == "content") {
        if (val.is_string()) {
          msg.content = val.get<std::string>();
        } else if (val.is_array()) {
          for (size_t j = 0; j < val.size(); ++j) {
            const json& part = val[j];
            const std::string pat = fmt::format("{}.content[{}]", at, j);
            if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
                !part["text"].is_string())
              return bad(pat, fmt::format("must be a text part {{\"type\": \"text\", \"text\": ...}}, got {}", show(part)));
            if (j > 0) msg.content += "\n";
            msg.content += part["text"].get<std::string>();
          }
        } else if (!val.is_null()) {
          return bad(at + ".content", fmt::format("must be a string or an array of text parts, got {}", show(val)));
        }
      } else if (key == "name") {
        if (!val.is_string()) return bad(at + ".name", fmt::format("must be a string, got {}", show(val)));
      } else if ((key == "tool_calls" || key == "refusal") && (val.is_null() || (val.is_array() && val.empty()))) {
        continue;
      } else {
        return bad(at + "." + key, "is not supported by this server");
      }
    }
    if (!have_role) return bad(at + ".role", "is required");
    r.messages.push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> Parser::stop(const json& v, ApiRequest& r) const {
  std::vector<std::string> stops;
  if (v.is_string()) {
    stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > kMaxStopStrings)
      return bad("stop", fmt::format("holds {} strings, at most {} are allowed", v.size(), kMaxStopStrings));
    for (const json& s : v) {
      if (!s.is_string()) return bad("stop", fmt::format("must hold strings only, got {}", show(s)));
      stops.push_back(s.get<std::string>());
    }
  } else {
    return bad("stop", fmt::format("must be a string or an array of strings, got {}", show(v)));
  }
  for (const std::string& s : stops) {
    if (s.empty()) return bad("stop", "must not hold an empty string");
    if (s.size() > kMaxStopBytes)
      return bad("stop", fmt::format("holds a string of {} bytes, at most {} are allowed", s.size(), kMaxStopBytes));
  }
  r.sampling.stop = std::move(stops);
  return std::nullopt;
}

std::optional<ApiError> Parser::field(const std::string& key, const json& v, ApiRequest& r) {
  infer::SamplingOptions& s = r.sampling;
  const bool chat = kind_ == ApiKind::kChat;
  if (key == "model") {
    if (!v.is_string()) return bad(key, fmt::format("must be a string, got {}", show(v)));
    r.model = v.get<std::string>();
    return std::nullopt;
  }
  if (key == "prompt" && !chat) {
    have_prompt_ = true;
    return prompt(v, r);
  }
  if (key == "messages" && chat) return messages(v, r);
  // Every other field may be null, meaning "the default".
  if (v.is_null()) return std::nullopt;
  if (key == "max_tokens" || (key == "max_completion_tokens" && chat)) {
    int64_t n = 0;
    if (auto e = integer(key, v, 0, std::numeric_limits<int64_t>::max(), n)) return e;
    if (n > limits_.max_tokens_limit)
      return bad(key, fmt::format("is {}, this server allows at most {}", n, limits_.max_tokens_limit));
    (key == "max_tokens" ? max_tokens_ : max_completion_tokens_) = n;
    return std::nullopt;
  }
  if (key == "temperature") return number(key, v, 0.0, kMaxTemperature, false, s.temperature);
  if (key == "top_p") return number(key, v, 0.0, 1.0, true, s.top_p);
  if (key == "frequency_penalty") return number(key, v, -kMaxAbsPenalty, kMaxAbsPenalty, false, s.frequency_penalty);
  if (key == "presence_penalty") return number(key, v, -kMaxAbsPenalty, kMaxAbsPenalty, false, s.presence_penalty);
  if (key == "repetition_penalty") return number(key, v, 0.0, kMaxRepetitionPenalty, true, s.repetition_penalty);
  if (key == "top_k") {
    int64_t k = 0;
    if (auto e = integer(key, v, -1, std::numeric_limits<int32_t>::max(), k)) return e;
    s.top_k = k < 0 ? 0 : k;  // -1 = off, as vLLM
    return std::nullopt;
  }
  if (key == "n") return integer(key, v, 1, kMaxChoices, r.n);
  if (key == "best_of") {
    int64_t n = 0;
    if (auto e = integer(key, v, 1, kMaxChoices, n)) return e;
    best_of_ = n;
    return std::nullopt;
  }
  if (key == "stop") return stop(v, r);
  if (key == "seed") {
    int64_t seed = 0;
    if (auto e = integer(key, v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), seed))
      return e;
    r.seed = static_cast<uint64_t>(seed);
    return std::nullopt;
  }
  if (key == "stream") return boolean(key, v, r.stream);
  if (key == "stream_options") {
    if (!v.is_object()) return bad(key, fmt::format("must be an object, got {}", show(v)));
    for (const auto& [k, val] : v.items()) {
      if (k != "include_usage") return bad(key + "." + k, "is not supported by this server");
      if (auto e = boolean(key + "." + k, val, r.include_usage)) return e;
    }
    have_stream_options_ = true;
    return std::nullopt;
  }
  if (key == "logprobs") {
    if (chat) return boolean(key, v, chat_logprobs_);
    if (auto e = integer(key, v, 0, kMaxCompletionLogprobs, s.top_logprobs)) return e;
    s.logprobs = true;
    return std::nullopt;
  }
  if (key == "top_logprobs" && chat) {
    have_top_logprobs_ = true;
    return integer(key, v, 0, infer::kMaxTopLogprobs, s.top_logprobs);
  }
  if (key == "echo" && !chat) return boolean(key, v, r.echo);
  if (key == "suffix" && !chat) {
    if (!(v.is_string() && v.get<std::string>().empty())) return bad(key, "is not supported by this server");
    return std::nullopt;
  }
  if (key == "logit_bias") {
    if (!v.is_object())
      return bad(key, fmt::format("must be an object mapping token ids to biases in [-{0}, {0}], got {1}",
                                  infer::kMaxLogitBias, show(v)));
    if (v.size() > kMaxLogitBiasEntries)
      return bad(key, fmt::format("has {} entries; at most {}", v.size(), kMaxLogitBiasEntries));
    for (const auto& [k, val] : v.items()) {
      int32_t id = -1;
      const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
      if (ec != std::errc() || end != k.data() + k.size() || id < 0 || (k.size() > 1 && k[0] == '0'))
        return bad(key, fmt::format("key '{}' is not a token id (a non-negative integer)", k));
      float bias = 0.0f;
      if (auto e = number(key + "." + k, val, -infer::kMaxLogitBias, infer::kMaxLogitBias, false, bias)) return e;
      s.logit_bias.push_back({.id = id, .bias = bias});
    }
    return std::nullopt;
  }
  if (chat && (key == "tools" || key == "functions")) {
    if (!((v.is_object() || v.is_array()) && v.empty())) return bad(key, "is not supported by this server");
    return std::nullopt;
  }
  if (chat && (key == "tool_choice" || key == "function_call")) {
    if (!(v.is_string() && (v == "none" || v == "auto"))) return bad(key, "is not supported by this server");
    return std::nullopt;
  }
  if (chat && key == "response_format") {
    if (!(v.is_object() && v.value("type", json()) == "text")) return bad(key, "only {\"type\": \"text\"} is supported");
    return std::nullopt;
  }
  if (key == "user" || key == "metadata" || key == "store" || key == "service_tier" ||
      (chat && key == "parallel_tool_calls"))
    return std::nullopt;  // accepted and ignored
  return ApiError{.http_status = 400,
                  .message = fmt::format("[{}] unrecognized request argument supplied: '{}'", endpoint_name(kind_), key),
                  .param = key};
}

ApiResult<ApiRequest> Parser::parse(std::string_view body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    return ApiError{.http_status = 400,
                    .message = fmt::format("[{}] the body is not valid JSON (byte {}): {}", endpoint_name(kind_),
                                           e.byte, e.what())};
  }
  if (!doc.is_object())
    return ApiError{.http_status = 400,
                    .message = fmt::format("[{}] the body must be a JSON object, got {}", endpoint_name(kind_),
                                           doc.type_name())};
  ApiRequest r;
  r.kind = kind_;
  r.sampling.max_tokens = kind_ == ApiKind::kChat ? limits_.max_tokens_limit : limits_.default_completion_tokens;
  for (const auto& [key, v] : doc.items())
    if (auto e = field(key, v, r)) return *e;
  if (r.model.empty()) return bad("model", "is required (GET /v1/models lists the served model)");
  if (kind_ == ApiKind::kCompletion && !have_prompt_) return bad("prompt", "is required");
  if (kind_ == ApiKind::kChat && r.messages.empty()) return bad("messages", "is required");
  if (have_stream_options_ && !r.stream) return bad("stream_options", "is only allowed when 'stream' is true");
  if (kind_ == ApiKind::kChat) r.sampling.logprobs = chat_logprobs_;
  if (have_top_logprobs_ && !chat_logprobs_) return bad("top_logprobs", "is only allowed when 'logprobs' is true");
  if (best_of_ && *best_of_ != r.n)
    return bad("best_of", fmt::format("is {} but n is {}; this server ranks no extra candidates (best_of = n)",
                                      *best_of_, r.n));
  const int64_t n_prompts = kind_ == ApiKind::kChat ? 1 : static_cast<int64_t>(r.prompts.size());
  if (n_prompts * r.n > kMaxChoices)
    return bad("n", fmt::format("{} prompts x n = {} asks for {} choices; this server gives at most {} per request",
                                n_prompts, r.n, n_prompts * r.n, kMaxChoices));
  if (max_completion_tokens_) r.sampling.max_tokens = *max_completion_tokens_;
  else if (max_tokens_) r.sampling.max_tokens = *max_tokens_;
  if (r.sampling.max_tokens == 0 && !r.echo)  // echo + max_tokens 0: score the prompt, generate nothing
    return bad(max_completion_tokens_ ? "max_completion_tokens" : "max_tokens",
               "is 0, which only makes sense with \"echo\": true (scoring the prompt); generate at least 1 token");
  return r;
}

}  // namespace

ApiResult<ApiRequest> parse_request(std::string_view body, ApiKind kind, const ApiLimits& limits) {
  return Parser(kind, limits).parse(body);
}

}  // namespace anvil::serve
