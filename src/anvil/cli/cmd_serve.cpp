// `anvil serve`: load a model directory and serve it over the OpenAI-compatible HTTP API (serve/
// HttpServer) and, with --grpc-port, gRPC (serve/grpc GrpcServer), both over one infer::Scheduler.
// Prints the listening addresses on stdout once bound (port 0 picks a free port). SIGTERM / SIGINT: stop taking requests, let in-flight ones finish, exit 0.
// Parsing, signals and printing only; the work is in serve/ and infer/. serve_model() is shared with
// `anvil run` (cli/serve_model.h).
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include "anvil/cli/serve_model.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/scheduler.h"
#include "anvil/serve/grpc/grpc_server.h"
#include "anvil/serve/http_server.h"
#include "anvil/serve/metrics.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::cli {
namespace {

// Set by the stop handler in threads that do not block the signals: threads that existed before
// serve_model() blocked them (the OpenMP pool after `anvil run` trained) may be the ones it reaches.
std::atomic<int> g_stop_signal{0};

void on_stop_signal(int sig) {
  if (g_stop_signal.exchange(sig) != 0) {  // the second signal: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// Waits for SIGINT/SIGTERM, whichever thread it reaches: blocked threads leave it pending for
// sigtimedwait here; others run on_stop_signal, seen at the next tick.
int wait_for_stop_signal(const sigset_t& signals) {
  const timespec tick{.tv_sec = 0, .tv_nsec = 100'000'000};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig > 0) {
      g_stop_signal.store(sig);  // a second signal now goes to the handler: immediate exit
      pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
      return sig;
    }
    if (const int s = g_stop_signal.load(); s != 0) return s;
  }
}

std::string default_model_name(const std::string& dir) {
  std::filesystem::path p(dir);
  if (!p.has_filename()) p = p.parent_path();  // "runs/x/" -> "x"
  return p.filename().string();
}

}  // namespace

int serve_model(const GlobalOptions& g, ServeArgs& a) {
  // Block the shutdown signals before the server threads exist (they inherit the mask), then wait for
  // them on this thread: no async-signal-safety constraints on what shutdown does.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  install_stop_handlers(on_stop_signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  make_cli_context(g);
  std::string tok_path = a.tokenizer;
  if (tok_path.empty()) {
    tok_path = (std::filesystem::path(a.model_dir) / "tokenizer.json").string();
    if (!std::filesystem::exists(tok_path)) {
      std::fprintf(stderr, "anvil serve: no --tokenizer given and '%s' does not exist\n", tok_path.c_str());
      return 2;
    }
  }
  auto tok = tok::load_tokenizer_json(tok_path);
  if (!tok.ok()) return report_failure("serve", tok.status());
  auto model = model::Transformer::load_mapped(a.model_dir);  // the engine packs straight from the file
  if (!model.ok()) return report_failure("serve", model.status());
  auto chat_template = infer::ChatTemplate::load(a.model_dir);
  if (!chat_template.ok()) return report_failure("serve", chat_template.status());
  auto scheduler = infer::Scheduler::create(std::move(*model), std::move(*tok), a.sched);
  if (!scheduler.ok()) return report_failure("serve", scheduler.status());
  infer::Scheduler& sched = **scheduler;

  a.http.model_name = a.model_name.empty() ? default_model_name(a.model_dir) : a.model_name;
  a.http.seed = g.seed;
  serve::ServeMetrics metrics(a.http.model_name);
  auto server = serve::HttpServer::start(sched, a.sched, metrics, *chat_template, a.http);
  if (!server.ok()) return report_failure("serve", server.status());
  std::unique_ptr<serve::GrpcServer> grpc;
  if (a.grpc_port >= 0) {
    auto started = serve::GrpcServer::start(sched, metrics, *chat_template,
                                            {.host = a.http.host, .port = a.grpc_port, .api_key = a.http.api_key,
                                             .model_name = a.http.model_name,
                                             .shutdown_grace_s = a.http.shutdown_grace_s});
    if (!started.ok()) return report_failure("serve", started.status());
    grpc = std::move(*started);
  }

  if (grpc) std::printf("anvil serve: gRPC anvil.v1.Inference on %s:%d\n", a.http.host.c_str(), grpc->port());
  const model::ModelConfig& cfg = sched.config();
  std::printf("anvil serve: listening on http://%s:%d (model '%s': %ld layers, d_model %ld, context %ld; "
              "max_running %ld, max_queue %ld, %s KV cache%s)\n",
              a.http.host.c_str(), (*server)->port(), a.http.model_name.c_str(), cfg.n_layer, cfg.d_model,
              cfg.max_seq, a.sched.max_running, a.sched.max_queue,
              a.sched.kv_dtype == DType::kF16 ? "f16" : a.sched.kv_dtype == DType::kI8 ? "int8" : "f32",
              a.http.api_key.empty() ? "" : ", API key required");
  std::fflush(stdout);

  const int sig = wait_for_stop_signal(signals);
  const infer::SchedulerStats s = sched.stats();
  std::fprintf(stderr, "anvil serve: %s: draining (%ld running, %ld waiting), new requests get 503\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", s.running, s.waiting);
  if (grpc) grpc->begin_drain();
  (*server)->shutdown();
  if (grpc) grpc->shutdown();
  sched.drain();
  std::fprintf(stderr, "anvil serve: stopped after %lu completed requests\n", sched.stats().n_completed);
  return 0;
}

Command register_serve(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand(
      "serve",
      "Serve a model directory over an OpenAI-compatible HTTP API: GET /v1/models, POST /v1/completions and "
      "/v1/chat/completions (\"stream\": true for server-sent events), GET /health, GET /metrics (Prometheus). "
      "Requests are batched continuously (up to --max-running decoding at once, --max-queue waiting; beyond "
      "that 429). Chat prompts use MODEL/chat_template.json when present. Binds 127.0.0.1 unless --host says "
      "otherwise; prints the address once listening. --grpc-port adds gRPC (streaming Generate, Health) over the same scheduler. SIGTERM/SIGINT: new requests get 503, in-flight ones "
      "finish, then exit 0. docs/serve.md.");
  auto a = std::make_shared<ServeArgs>();
  serve::HttpOptions& h = a->http;
  infer::SchedulerOptions& s = a->sched;
  c.app->add_option("--model", a->model_dir, "model directory (config.json + model.safetensors)")->required();
  c.app->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  c.app->add_option("--model-name", a->model_name, "model id clients send (default: the directory's name)");
  c.app->add_option("--host", h.host, "address to bind")->capture_default_str();
  c.app->add_option("--port", h.port, "port (0 = any free port; the chosen one is printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  c.app->add_option("--grpc-port", a->grpc_port,
                    "also serve gRPC anvil.v1.Inference (proto/anvil/v1/inference.proto) on this port; 0 = any "
                    "free port, -1 = no gRPC")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  c.app->add_option("--api-key", h.api_key, "require 'Authorization: Bearer KEY' on /v1/* and gRPC Generate")
      ->envname("ANVIL_API_KEY");
  c.app->add_option("--max-running", s.max_running, "sequences decoding at once (KV cache slots)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  c.app->add_option("--max-queue", s.max_queue, "requests waiting for a slot; more get 429")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{65536}));
  c.app->add_option("--max-seq", s.max_seq, "context per sequence (prompt + completion); 0 = the model's")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c.app->add_option("--prefill-chunk", s.prefill_chunk, "prompt tokens one sequence prefills per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c.app->add_option("--max-batch-tokens", s.max_batch_tokens, "tokens per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_kv_cache_option(c.app, &s.kv_dtype);
  c.app->add_option("--stream-interval", h.stream_interval,
                    "SSE streams: after the first text, each chunk carries this many tokens (or the rest); more "
                    "means fewer wake-ups and writes per token, so more throughput with many streams of a small "
                    "model, at the cost of choppier streaming (as SGLang's --stream-interval)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  c.app->add_option("--max-body-bytes", h.max_body_bytes, "larger request bodies get 413")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c.app->add_option("--max-prompt-tokens", h.max_prompt_tokens,
                    "longer prompts get 400 context_length_exceeded (0 = the context - 1)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c.app->add_option("--max-tokens-limit", h.limits.max_tokens_limit,
                    "largest max_tokens a request may ask for; also the chat default")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c.app->add_option("--shutdown-grace", h.shutdown_grace_s,
                    "seconds in-flight requests get after SIGTERM before they are cancelled")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c.run = [&g, a]() -> int { return serve_model(g, *a); };
  return c;
}

}  // namespace anvil::cli
