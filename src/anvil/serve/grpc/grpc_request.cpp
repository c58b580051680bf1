// GenerateRequest validation and status mapping (see grpc_request.h).
#include "anvil/serve/grpc/grpc_request.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace anvil::serve {
namespace {

constexpr const char* kOp = "[grpc.Generate]";

Status bad_field(const char* field, const std::string& what) {
  return invalid_argument("{} {}: {}", kOp, field, what);
}

Status check_range(const char* field, float v, float lo, bool lo_open, float hi) {
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (ok) return ok_status();
  return bad_field(field, fmt::format("must be in {}{}, {}], got {}", lo_open ? "(" : "[", lo, hi, v));
}

}  // namespace

Result<infer::ScheduledRequest> to_scheduled_request(const v1::GenerateRequest& req, const GenerateContext& ctx) {
  if (!req.model().empty() && req.model() != ctx.model_name)
    return not_found("{} model '{}' is not served here; this server serves '{}'", kOp, req.model(), ctx.model_name);

  infer::ScheduledRequest out;
  infer::SamplingOptions& s = out.sampling;
  out.prompt_logprobs = req.prompt_logprobs();
  if (out.prompt_logprobs && !req.logprobs()) return bad_field("prompt_logprobs", "needs logprobs = true");
  if (req.has_max_tokens()) {
    const int min_tokens = out.prompt_logprobs ? 0 : 1;  // 0: score the prompt only
    if (req.max_tokens() < min_tokens)
      return bad_field("max_tokens", fmt::format("must be >= {}, got {}", min_tokens, req.max_tokens()));
    s.max_tokens = req.max_tokens();
  }
  if (req.has_temperature()) {
    ANVIL_RETURN_IF_ERROR(check_range("temperature", req.temperature(), 0.0f, false, kMaxTemperature));
    s.temperature = req.temperature();
  }
  if (req.has_top_p()) {
    ANVIL_RETURN_IF_ERROR(check_range("top_p", req.top_p(), 0.0f, true, 1.0f));
    s.top_p = req.top_p();
  }
  if (req.has_top_k()) {
    if (req.top_k() < 0) return bad_field("top_k", fmt::format("must be >= 0, got {}", req.top_k()));
    s.top_k = req.top_k();
  }
  if (req.has_seed()) s.seed = req.seed();
  if (req.has_frequency_penalty()) {
    ANVIL_RETURN_IF_ERROR(check_range("frequency_penalty", req.frequency_penalty(), -kMaxAbsPenalty, false, kMaxAbsPenalty));
    s.frequency_penalty = req.frequency_penalty();
  }
  if (req.has_presence_penalty()) {
    ANVIL_RETURN_IF_ERROR(check_range("presence_penalty", req.presence_penalty(), -kMaxAbsPenalty, false, kMaxAbsPenalty));
    s.presence_penalty = req.presence_penalty();
  }
  if (req.has_repetition_penalty()) {
    ANVIL_RETURN_IF_ERROR(check_range("repetition_penalty", req.repetition_penalty(), 0.0f, true, kMaxRepetitionPenalty));
    s.repetition_penalty = req.repetition_penalty();
  }
  if (req.stop_size() > kMaxStopStrings)
    return bad_field("stop", fmt::format("at most {} stop strings, got {}", kMaxStopStrings, req.stop_size()));
  for (int i = 0; i < req.stop_size(); ++i) {
    const std::string& stop = req.stop(i);
    if (stop.empty() || stop.size() > kMaxStopBytes)
      return invalid_argument("{} stop[{}]: must be 1 to {} bytes, got {}", kOp, i, kMaxStopBytes, stop.size());
    s.stop.push_back(stop);
  }
  s.logprobs = req.logprobs();
  if (req.has_top_logprobs()) {
    if (req.top_logprobs() < 0 || req.top_logprobs() > infer::kMaxTopLogprobs)
      return bad_field("top_logprobs",
                       fmt::format("must be in [0, {}], got {}", infer::kMaxTopLogprobs, req.top_logprobs()));
    if (req.top_logprobs() > 0 && !s.logprobs) return bad_field("top_logprobs", "needs logprobs = true");
    s.top_logprobs = req.top_logprobs();
  }
  s.ignore_eos = req.ignore_eos();
  for (const auto& [id, bias] : req.logit_bias()) s.logit_bias.push_back({.id = id, .bias = bias});  // checked at submit

  if (req.input_case() == v1::GenerateRequest::kPromptIds) {  // ids: range-checked by the scheduler's submit
    if (req.prompt_ids().ids().empty()) return bad_field("prompt_ids", "is empty");
    out.prompt_ids.assign(req.prompt_ids().ids().begin(), req.prompt_ids().ids().end());
    return out;
  }
  std::string prompt;
  switch (req.input_case()) {
    case v1::GenerateRequest::kPrompt:
      prompt = req.prompt();
      break;
    case v1::GenerateRequest::kChat: {
      const auto& msgs = req.chat().messages();
      if (msgs.empty()) return bad_field("chat.messages", "is empty");
      std::vector<infer::ChatMessage> chat;
      chat.reserve(static_cast<size_t>(msgs.size()));
      for (const v1::ChatMessage& m : msgs) chat.push_back({.role = m.role(), .content = m.content()});
      auto rendered = ctx.chat_template.render(chat);
      if (!rendered.ok()) return rendered.status().with_context(fmt::format("{} chat.messages", kOp));
      prompt = std::move(*rendered);
      for (const std::string& stop : ctx.chat_template.stop())
        if (std::find(s.stop.begin(), s.stop.end(), stop) == s.stop.end()) s.stop.push_back(stop);
      break;
    }
    case v1::GenerateRequest::kPromptIds:
      break;  // handled above
    case v1::GenerateRequest::INPUT_NOT_SET:
      return invalid_argument("{} one of prompt, chat or prompt_ids is required", kOp);
  }
  const bool chat = req.input_case() == v1::GenerateRequest::kChat;
  const std::vector<uint32_t> ids =
      ctx.tokenizer.encode(prompt, {.special = chat ? tok::SpecialMode::kAllow : tok::SpecialMode::kAsText});
  out.prompt_ids.assign(ids.begin(), ids.end());
  if (out.prompt_ids.empty() && ctx.eos_id >= 0) out.prompt_ids.push_back(ctx.eos_id);
  if (out.prompt_ids.empty())
    return bad_field("prompt", "is empty and the tokenizer has no end-of-text token to condition on");
  return out;
}

::grpc::StatusCode grpc_code(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return ::grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return ::grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kOutOfRange: return ::grpc::StatusCode::INVALID_ARGUMENT;  // a request value out of bounds
    case StatusCode::kNotFound: return ::grpc::StatusCode::NOT_FOUND;
    case StatusCode::kUnimplemented: return ::grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kCancelled: return ::grpc::StatusCode::CANCELLED;
    case StatusCode::kResourceExhausted: return ::grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kUnavailable: return ::grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kIoError: return ::grpc::StatusCode::INTERNAL;
    case StatusCode::kInternal: return ::grpc::StatusCode::INTERNAL;
  }
  return ::grpc::StatusCode::UNKNOWN;
}

::grpc::Status to_grpc_status(const Status& status) {
  if (status.ok()) return ::grpc::Status::OK;
  return {grpc_code(status.code()), status.message()};
}

int http_like_code(::grpc::StatusCode code) {
  switch (code) {
    case ::grpc::StatusCode::OK: return 200;
    case ::grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case ::grpc::StatusCode::UNAUTHENTICATED: return 401;
    case ::grpc::StatusCode::NOT_FOUND: return 404;
    case ::grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case ::grpc::StatusCode::CANCELLED: return 499;  // client closed the request (nginx's convention)
    case ::grpc::StatusCode::UNIMPLEMENTED: return 501;
    case ::grpc::StatusCode::UNAVAILABLE: return 503;
    case ::grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

}  // namespace anvil::serve
