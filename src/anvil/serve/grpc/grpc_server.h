// GrpcServer: the gRPC front end of `anvil serve` — service anvil.v1.Inference
// (proto/anvil/v1/inference.proto) over the same infer::Scheduler as the HTTP API. Generate streams
// sampled tokens as they come; Health reports queue depth and running sequences. Built on gRPC's callback
// API: no thread per stream (gRPC's own small executor runs the reactions; the scheduler thread only
// queues messages), so open streams are bounded by the scheduler's queue, not by threads.
// Invariants: every accepted Generate ends with exactly one Finish; a client that cancels or disconnects
// cancels its scheduler request; start() binds 127.0.0.1 unless told otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "anvil/base/status.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/scheduler.h"
#include "anvil/serve/metrics.h"

namespace anvil::serve {

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 0;                             // 0 = any free port (see GrpcServer::port())
  std::string api_key = {};                 // non-empty: Generate needs `authorization: Bearer <key>`
  std::string model_name = {};              // what Health reports and GenerateRequest.model may name
  int64_t max_request_bytes = 1 << 20;      // larger request messages get RESOURCE_EXHAUSTED
  double shutdown_grace_s = 5.0;            // shutdown(): in-flight streams get this long, then cancelled
};

class GrpcServer {
 public:
  // Binds and starts serving. The scheduler, metrics and template must outlive the server (or its
  // shutdown()). Fails with kUnavailable when the address cannot be bound, kInvalidArgument for bad
  // options.
  static Result<std::unique_ptr<GrpcServer>> start(infer::Scheduler& scheduler, ServeMetrics& metrics,
                                                    const infer::ChatTemplate& chat_template,
                                                    const GrpcOptions& options);
  ~GrpcServer();  // shutdown()
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const;  // the bound port (the chosen one when options.port was 0)
  // New Generate calls get UNAVAILABLE and Health says DRAINING; streams in flight continue.
  void begin_drain();
  // Stops accepting calls, lets in-flight streams finish for shutdown_grace_s, then cancels the rest
  // (their scheduler requests too) and returns once every call is done. Idempotent.
  void shutdown();

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace anvil::serve
