// anvil.v1.Inference on gRPC's callback API. Each Generate is a GenerateReactor: the scheduler thread
// hands it events through the request's sink (never blocking: it appends to a pending message and starts
// a write when none is in flight), gRPC's executor runs OnWriteDone / OnCancel / OnDone. One mutex per
// stream guards the reactor's state; the sink holds it through a shared Link that OnDone clears, so a late
// event after the call ended is refused (sink returns false) instead of touching a freed reactor.
// At most one write is in flight per stream (the callback API's rule); tokens sampled meanwhile are
// coalesced into the next message. Scheduler::cancel is always called without the stream's mutex held.
#include "anvil/serve/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "anvil/serve/grpc/grpc_request.h"
#include "anvil/v1/inference.grpc.pb.h"

namespace anvil::serve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Empty when the call may proceed, else why not (for UNAUTHENTICATED).
std::string auth_failure(const ::grpc::CallbackServerContext& ctx, const std::string& api_key) {
  if (api_key.empty()) return {};
  const auto& md = ctx.client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end()) return "missing metadata 'authorization: Bearer <api key>'";
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (!value.starts_with(kBearer) || !constant_time_equal(value.substr(kBearer.size()), api_key))
    return "invalid api key in metadata 'authorization'";
  return {};
}

v1::FinishReason finish_reason_proto(infer::FinishReason r) {
  return r == infer::FinishReason::kStop ? v1::FINISH_REASON_STOP : v1::FINISH_REASON_LENGTH;
}

}  // namespace

struct GrpcServer::Impl {
  infer::Scheduler& scheduler;
  ServeMetrics& metrics;
  const infer::ChatTemplate& chat_template;
  GrpcOptions options;
  std::atomic<bool> draining{false};
  std::unique_ptr<v1::Inference::CallbackService> service = {};
  std::unique_ptr<::grpc::Server> server = {};
  int port = 0;
  std::once_flag shutdown_once = {};
};

namespace {

class GenerateReactor;

// What the sink reaches the reactor through; reactor = nullptr once the call is done.
struct Link {
  std::mutex mu;
  GenerateReactor* reactor = nullptr;
};

class GenerateReactor : public ::grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  GenerateReactor(GrpcServer::Impl& s, ::grpc::CallbackServerContext* ctx, const v1::GenerateRequest& req)
      : s_(s), link_(std::make_shared<Link>()), start_(Clock::now()), last_token_(start_) {
    if (std::string why = auth_failure(*ctx, s_.options.api_key); !why.empty()) {
      finish_now(::grpc::Status(::grpc::StatusCode::UNAUTHENTICATED, "[grpc.Generate] " + why));
      return;
    }
    if (s_.draining.load()) {
      finish_now(::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "[grpc.Generate] the server is draining"));
      return;
    }
    auto sreq = to_scheduled_request(req, {.tokenizer = s_.scheduler.tokenizer(),
                                           .chat_template = s_.chat_template,
                                           .model_name = s_.options.model_name,
                                           .eos_id = s_.scheduler.eos_id()});
    if (!sreq.ok()) {
      finish_now(to_grpc_status(sreq.status()));
      return;
    }
    logprobs_ = sreq->sampling.logprobs;
    top_logprobs_ = sreq->sampling.top_logprobs > 0;
    link_->reactor = this;
    auto id = s_.scheduler.submit(std::move(*sreq), [link = link_](const infer::StreamEvent& ev) {
      std::lock_guard<std::mutex> lock(link->mu);
      return link->reactor != nullptr && link->reactor->on_event_locked(ev);
    });
    std::lock_guard<std::mutex> lock(link_->mu);
    if (!id.ok()) {
      link_->reactor = nullptr;
      finish_locked(to_grpc_status(id.status().with_context("[grpc.Generate]")));
      return;
    }
    request_id_ = *id;
    submitted_ = true;
  }

  void OnWriteDone(bool ok) override {
    bool cancel = false;
    {
      std::lock_guard<std::mutex> lock(link_->mu);
      write_in_flight_ = false;
      if (!ok && !client_gone_) {
        client_gone_ = true;
        cancel = submitted_ && !final_seen_;
      }
      pump_locked();
    }
    if (cancel) s_.scheduler.cancel(request_id_);
  }

  void OnCancel() override {
    bool cancel = false;
    {
      std::lock_guard<std::mutex> lock(link_->mu);
      if (!client_gone_) {
        client_gone_ = true;
        cancel = submitted_ && !final_seen_;
      }
      pump_locked();
    }
    if (cancel) s_.scheduler.cancel(request_id_);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(link_->mu);
      link_->reactor = nullptr;
    }
    s_.metrics.on_request("grpc.Generate", http_like_code(result_code_));
    delete this;
  }

  // On the scheduler thread, under link_->mu. Returns false when the client is gone.
  bool on_event_locked(const infer::StreamEvent& ev) {
    on_token_timing(ev);
    if (!ev.prompt_logprobs.empty()) {
      v1::PromptScores* p = pending_.mutable_prompt();
      for (const infer::SampledToken& t : ev.prompt_logprobs) {
        p->add_token_ids(t.id);
        p->add_logprobs(t.logprob);
        if (!top_logprobs_) continue;
        v1::TopLogprobs* top = p->add_top_logprobs();
        for (const infer::TopLogprob& alt : t.top) {
          top->add_token_ids(alt.id);
          top->add_logprobs(alt.logprob);
        }
      }
      has_pending_ = true;
    }
    if (ev.token >= 0) {
      pending_.add_token_ids(ev.token);
      if (logprobs_) pending_.add_logprobs(ev.logprob);
      if (top_logprobs_) {
        v1::TopLogprobs* top = pending_.add_top_logprobs();
        for (const infer::TopLogprob& alt : ev.top_logprobs) {
          top->add_token_ids(alt.id);
          top->add_logprobs(alt.logprob);
        }
      }
      has_pending_ = true;
    }
    if (!ev.text.empty()) {
      pending_.mutable_text()->append(ev.text);
      has_pending_ = true;
    }
    if (ev.final) {
      final_seen_ = true;
      s_.metrics.on_tokens(ev.n_prompt_tokens, ev.n_tokens);
      s_.metrics.observe_e2e(seconds_since(start_));
      if (!ev.error.ok()) {
        final_status_ = to_grpc_status(ev.error.with_context("[grpc.Generate]"));
      } else {
        pending_.set_finish_reason(finish_reason_proto(ev.finish));
        pending_.mutable_usage()->set_prompt_tokens(ev.n_prompt_tokens);
        pending_.mutable_usage()->set_completion_tokens(ev.n_tokens);
        has_pending_ = true;
      }
    }
    pump_locked();
    return !client_gone_;
  }

 private:
  void on_token_timing(const infer::StreamEvent& ev) {
    if (ev.token < 0) return;
    const auto now = Clock::now();
    if (n_token_events_ == 0) {
      s_.metrics.observe_queue(ev.queue_ms / 1000.0);
      s_.metrics.observe_ttft(ev.ttft_ms / 1000.0);
    } else {
      s_.metrics.observe_inter_token(std::chrono::duration<double>(now - last_token_).count());
    }
    last_token_ = now;
    ++n_token_events_;
  }

  // Starts the next write or the Finish, if the stream is free for it. Under link_->mu.
  void pump_locked() {
    if (finished_ || write_in_flight_) return;
    if (client_gone_) {
      // Finish once the scheduler has let go of the request (its final event), or it never had it.
      if (final_seen_ || !submitted_) finish_locked(::grpc::Status(::grpc::StatusCode::CANCELLED, "[grpc.Generate] cancelled by the client"));
      return;
    }
    if (final_seen_ && final_status_.ok()) {  // the last message carries finish_reason and usage
      writing_.Swap(&pending_);
      result_code_ = ::grpc::StatusCode::OK;
      finished_ = true;
      StartWriteAndFinish(&writing_, ::grpc::WriteOptions(), ::grpc::Status::OK);
      return;
    }
    if (has_pending_) {
      writing_.Swap(&pending_);
      pending_.Clear();
      has_pending_ = false;
      write_in_flight_ = true;
      StartWrite(&writing_);
      return;
    }
    if (final_seen_) finish_locked(final_status_);
  }

  void finish_locked(const ::grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    result_code_ = status.error_code();
    Finish(status);
  }
  void finish_now(const ::grpc::Status& status) {
    std::lock_guard<std::mutex> lock(link_->mu);
    finish_locked(status);
  }

  GrpcServer::Impl& s_;
  std::shared_ptr<Link> link_;
  const Clock::time_point start_;
  Clock::time_point last_token_;
  int64_t n_token_events_ = 0;
  bool logprobs_ = false, top_logprobs_ = false;
  uint64_t request_id_ = 0;
  bool submitted_ = false, final_seen_ = false, client_gone_ = false;
  bool write_in_flight_ = false, has_pending_ = false, finished_ = false;
  ::grpc::Status final_status_;
  ::grpc::StatusCode result_code_ = ::grpc::StatusCode::UNKNOWN;
  v1::GenerateResponse pending_, writing_;
};

class InferenceService final : public v1::Inference::CallbackService {
 public:
  explicit InferenceService(GrpcServer::Impl& s) : s_(s) {}

  ::grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(::grpc::CallbackServerContext* ctx,
                                                              const v1::GenerateRequest* req) override {
    return new GenerateReactor(s_, ctx, *req);
  }

  // Health needs no api key: load balancers and probes call it without one.
  ::grpc::ServerUnaryReactor* Health(::grpc::CallbackServerContext* ctx, const v1::HealthRequest*,
                                     v1::HealthResponse* resp) override {
    const infer::SchedulerStats st = s_.scheduler.stats();
    resp->set_status(s_.draining.load() ? v1::HealthResponse::DRAINING : v1::HealthResponse::SERVING);
    resp->set_model(s_.options.model_name);
    resp->set_queue_depth(st.waiting);
    resp->set_running(st.running);
    s_.metrics.on_request("grpc.Health", http_like_code(::grpc::StatusCode::OK));
    ::grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(::grpc::Status::OK);
    return reactor;
  }

 private:
  GrpcServer::Impl& s_;
};

}  // namespace

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(infer::Scheduler& scheduler, ServeMetrics& metrics,
                                                       const infer::ChatTemplate& chat_template,
                                                       const GrpcOptions& options) {
  if (options.port < 0 || options.port > 65535)
    return invalid_argument("[grpc.start] port must be in [0, 65535], got {}", options.port);
  if (options.host.empty()) return invalid_argument("[grpc.start] host is empty");
  if (options.max_request_bytes < 1 || options.max_request_bytes > (int64_t{1} << 30))
    return invalid_argument("[grpc.start] max_request_bytes must be in [1, 2^30], got {}", options.max_request_bytes);
  std::unique_ptr<Impl> impl(
      new Impl{.scheduler = scheduler, .metrics = metrics, .chat_template = chat_template, .options = options});
  impl->service = std::make_unique<InferenceService>(*impl);

  const bool ipv6 = options.host.find(':') != std::string::npos;
  const std::string address =
      ipv6 ? fmt::format("[{}]:{}", options.host, options.port) : fmt::format("{}:{}", options.host, options.port);
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort(address, ::grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_request_bytes));
  // One listener per address: a second server on the same port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0)
    return unavailable("[grpc.start] cannot listen on {} (in use, or not a local address)", address);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { shutdown(); }

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::begin_drain() { impl_->draining.store(true); }

void GrpcServer::shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    impl_->draining.store(true);
    const auto grace = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(impl_->options.shutdown_grace_s));
    impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
    impl_->server->Wait();
  });
}

}  // namespace anvil::serve
