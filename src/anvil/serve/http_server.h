// HttpServer: the OpenAI-compatible HTTP front end of `anvil serve` (cpp-httplib) over one
// infer::Scheduler. Routes: GET /v1/models[/{id}], POST /v1/completions and /v1/chat/completions (JSON,
// or SSE with "stream": true), GET /health, GET /metrics (Prometheus text 0.0.4).
// Threads: httplib's accept thread plus a pool of workers, one per open request (max_running + max_queue
// + a few for /health and /metrics, so a full scheduler answers 429 instead of queueing sockets); the
// scheduler thread only hands events to a request's channel. Invariants: every response to /v1/* is JSON or
// SSE in OpenAI's shapes, errors included; a streamed request whose client is gone is cancelled in the
// scheduler; after begin_drain() new requests get 503 and in-flight ones finish; shutdown() returns
// once every in-flight request has been answered.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "anvil/base/status.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/scheduler.h"
#include "anvil/serve/metrics.h"
#include "anvil/serve/openai.h"

namespace anvil::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                  // 0 = any free port (see HttpServer::port())
  std::string api_key = {};         // non-empty: /v1/* needs `Authorization: Bearer <key>` (401 otherwise)
  std::string model_name;           // the id /v1/models lists and requests must name (404 otherwise)
  int64_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int64_t max_prompt_tokens = 0;     // longer prompts get 400 context_length_exceeded; 0 = the context - 1
  ApiLimits limits = {};             // max_tokens cap and defaults
  int64_t n_workers = 0;             // HTTP worker threads; 0 = scheduler max_running + max_queue + 8
  uint64_t seed = 0;                 // requests without "seed" get seed ^ a per-request counter hash
  double shutdown_grace_s = 30.0;    // shutdown(): in-flight requests get this long, then are cancelled
  int64_t stream_interval = 1;       // SSE: after the first text, a chunk waits for this many tokens (or the end)
};

class HttpServer {
 public:
  // Binds (host, port) and starts serving on a thread of its own. The scheduler, metrics and template
  // must outlive the server. `scheduler_options` are the ones the scheduler was created with (for limits
  // and the worker count). Fails with kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(infer::Scheduler& scheduler,
                                                    const infer::SchedulerOptions& scheduler_options,
                                                    ServeMetrics& metrics, const infer::ChatTemplate& chat_template,
                                                    const HttpOptions& options);
  ~HttpServer();  // shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port (the chosen one when options.port was 0)
  const std::string& host() const;
  // New requests get 503 (code "draining") and /health reports "draining"; requests in flight continue.
  void begin_drain();
  // begin_drain(), then waits until every in-flight request has been answered (streams run to their end;
  // after shutdown_grace_s the rest are cancelled and end with an error), then closes the listener. The
  // listener stays open while draining because cpp-httplib 0.11 cuts streams once it is closed.
  // Idempotent; thread-safe.
  void shutdown();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace anvil::serve
