// From the wire to the scheduler and back, without any networking: validates an anvil.v1.GenerateRequest
// (errors name the proto field and the value), renders chat messages with the model's template, encodes
// the prompt (chat: special-token text allowed, as the template may use it; raw prompt: plain text, as
// the HTTP API does), and maps anvil Status codes to gRPC status codes (and both to the HTTP-like codes the
// metrics count). Unset optional fields take SamplingOptions' defaults, as the .proto documents.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "anvil/base/status.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/scheduler.h"
#include "anvil/tokenizer/tokenizer.h"
#include "anvil/v1/inference.pb.h"

namespace anvil::serve {

// Request limits that do not depend on the model.
constexpr int kMaxStopStrings = 16;
constexpr size_t kMaxStopBytes = 256;
constexpr float kMaxTemperature = 2.0f;
constexpr float kMaxAbsPenalty = 2.0f;        // frequency / presence (OpenAI's range)
constexpr float kMaxRepetitionPenalty = 10.0f;

struct GenerateContext {
  const tok::Tokenizer& tokenizer;
  const infer::ChatTemplate& chat_template;
  const std::string& model_name;
  int32_t eos_id = -1;  // an empty prompt conditions on it (as Generator and the HTTP API); -1 = refuse
};

// kNotFound for a model that is not the served one, kInvalidArgument naming the field otherwise.
Result<infer::ScheduledRequest> to_scheduled_request(const v1::GenerateRequest& req, const GenerateContext& ctx);

::grpc::StatusCode grpc_code(StatusCode code);
::grpc::Status to_grpc_status(const Status& status);
// The HTTP status a gRPC code corresponds to (200, 400, 401, 404, 429, 499, 500, 503), for metrics.
int http_like_code(::grpc::StatusCode code);

}  // namespace anvil::serve
