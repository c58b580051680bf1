// The OpenAI wire format, without any networking: parses and validates /v1/completions and
// /v1/chat/completions bodies into typed requests (every error names the field, the value and what was
// expected, as {"error":{"message","type","param","code"}} with the HTTP status OpenAI uses), and builds
// the response JSON: whole responses, SSE stream chunks (text_completion / chat.completion.chunk: role
// delta first, then content deltas, then finish_reason, then usage when asked) and the model list.
// Shapes follow https://platform.openai.com/docs/api-reference (completions, chat, models). Completions
// name a token that is not valid UTF-8 on its own as "bytes:\xNN..." (as OpenAI's legacy API does), so
// top_logprobs keys stay distinct; chat gives such a token with U+FFFD and its exact `bytes`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/sampler.h"

namespace anvil::serve {

// An error as the API reports it. param/code empty = JSON null.
struct ApiError {
  int http_status = 400;
  std::string message = {};
  std::string type = "invalid_request_error";
  std::string param = {};
  std::string code = {};
};
// {"error":{"message":..,"type":..,"param":..,"code":..}}
std::string error_body(const ApiError& e);
// Maps a Status to an API error: kInvalidArgument/kOutOfRange 400, kNotFound 404, kResourceExhausted 429,
// kUnavailable/kCancelled 503, anything else 500.
ApiError api_error(const Status& s);

// A value or the ApiError that says why there is none.
template <typename T>
class ApiResult {
 public:
  ApiResult(T v) : v_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
  ApiResult(ApiError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() { return std::get<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

enum class ApiKind : uint8_t { kCompletion, kChat };

// Request limits a server applies (flags of `anvil serve`).
struct ApiLimits {
  int64_t max_tokens_limit = 2048;     // max_tokens above this is a 400; also the chat default
  int64_t default_completion_tokens = 16;  // /v1/completions without max_tokens (OpenAI's default)
};

// Choices one request may ask for (prompts x n), as OpenAI's n <= 128.
inline constexpr int64_t kMaxChoices = 128;
// logit_bias entries one request may carry (OpenAI's limit).
inline constexpr size_t kMaxLogitBiasEntries = 300;

// One /v1/completions prompt: text, or token ids.
struct ApiPrompt {
  std::string text = {};
  std::optional<std::vector<int32_t>> ids = {};
};

struct ApiRequest {
  ApiKind kind = ApiKind::kCompletion;
  std::string model;
  std::vector<ApiPrompt> prompts;            // kCompletion: one or more (each gets n choices)
  int64_t n = 1;                             // choices per prompt (sampled with seeds seed, seed + 1, ...)
  std::vector<infer::ChatMessage> messages;  // kChat
  infer::SamplingOptions sampling;           // max_tokens, temperature, top_p/top_k, penalties, stop, logprobs
  std::optional<uint64_t> seed;              // absent: the server picks one per request
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // kCompletion: the prompt goes before the completion (and with logprobs, its scores)
};

// Parses a request body. Several prompts and n > 1 give at most kMaxChoices choices in all; best_of may
// only equal n (no candidates are ranked away). Unknown fields are errors (as OpenAI's "Unrecognized request argument");
// accepted but ignored: user, metadata, store, service_tier, parallel_tool_calls and nulls.
ApiResult<ApiRequest> parse_request(std::string_view body, ApiKind kind, const ApiLimits& limits);

// What the response builders need besides the text.
struct ResponseMeta {
  std::string id = {};     // "cmpl-..." / "chatcmpl-..."
  std::string model = {};
  int64_t created = 0;  // Unix seconds
  // The request's top_logprobs (completions: logprobs N). Completions write "top_logprobs": null when 0,
  // else one {token: logprob} object per position holding the N most likely tokens plus the chosen one
  // (so up to N + 1 entries, as OpenAI documents); chat writes the N most likely as a list.
  int64_t top_logprobs = 0;
};

// One generated token for logprobs: its bytes (as the tokenizer has them) and log-probability, and the
// most likely tokens at its position (`top`, most likely first; their own `top` stays empty). All values
// are log-probabilities of the raw model distribution (infer/sampler.h).
struct TokenLogprob {
  std::string token = {};
  float logprob = 0.0f;
  std::vector<TokenLogprob> top = {};
  bool unscored = false;  // an echoed prompt's first token: nothing predicts it (logprob and top_logprobs null)
};

struct CompletionResult {
  std::string text = {};
  std::vector<TokenLogprob> logprobs = {};  // empty unless the request asked for logprobs
  bool with_logprobs = false;
  infer::FinishReason finish = infer::FinishReason::kLength;
  int64_t n_prompt_tokens = 0;
  int64_t n_completion_tokens = 0;
  size_t text_offset = 0;  // completions' logprobs.text_offset starts here (the prompt's length in bytes; 0 with echo)
};

// The whole (non-streamed) response.
std::string response_body(ApiKind kind, const ResponseMeta& meta, const CompletionResult& r);
// Several choices (index = position in `choices`); usage counts n_prompt_tokens (each prompt once, however
// many choices it has) and every choice's completion tokens.
std::string response_body(ApiKind kind, const ResponseMeta& meta, std::span<const CompletionResult> choices,
                          int64_t n_prompt_tokens);

// SSE stream pieces, each one `data: {...}\n\n`. `include_usage` adds "usage": null to every chunk,
// as OpenAI does when stream_options.include_usage is set; `index` is the choice's.
std::string sse_role_chunk(const ResponseMeta& meta, bool include_usage,
                           int64_t index = 0);  // chat only: delta {role, content ""}
// A text delta; `logprobs` (with `text_offset` = where its first token starts: the bytes of the tokens
// before it, counted from the prompt's end, or from its start with echo) when asked.
// The per-token hot path: written straight into `out` (appended; reuse its capacity), byte for byte what
// sse_text_chunk_reference's nlohmann::ordered_json dump gives (openai_test checks it on awkward strings
// and numbers); completions' top_logprobs objects are built by the reference.
void append_sse_text_chunk(std::string& out, ApiKind kind, const ResponseMeta& meta, std::string_view text,
                           const std::vector<TokenLogprob>* logprobs, size_t text_offset, bool include_usage,
                           int64_t index = 0);
std::string sse_text_chunk(ApiKind kind, const ResponseMeta& meta, std::string_view text,
                           const std::vector<TokenLogprob>* logprobs, size_t text_offset, bool include_usage,
                           int64_t index = 0);
std::string sse_text_chunk_reference(ApiKind kind, const ResponseMeta& meta, std::string_view text,
                                     const std::vector<TokenLogprob>* logprobs, size_t text_offset,
                                     bool include_usage, int64_t index = 0);
std::string sse_finish_chunk(ApiKind kind, const ResponseMeta& meta, infer::FinishReason finish, bool include_usage,
                             int64_t index = 0);
std::string sse_usage_chunk(ApiKind kind, const ResponseMeta& meta, int64_t n_prompt, int64_t n_completion);
std::string sse_error_chunk(const ApiError& e);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// GET /v1/models and /v1/models/{id}.
std::string models_body(const std::string& model, int64_t created);
std::string model_body(const std::string& model, int64_t created);

}  // namespace anvil::serve
