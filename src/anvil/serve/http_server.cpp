// HttpServer lifecycle and the small routes (see http_server.h): binding, the worker pool, API-key
// checks, /v1/models, /health, /metrics, JSON bodies for errors httplib produces itself (404 no route,
// 405 with Allow for a known route asked with another method, 413 body too large, 400 unparsable request
// line), and the drain-then-stop shutdown.
#include <sys/socket.h>

#include <csignal>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

#include "anvil/serve/http_impl.h"

namespace anvil::serve {
namespace {

constexpr int64_t kExtraWorkers = 8;  // beyond one per running or queued request: /health, /metrics, 4xx
constexpr size_t kMaxDiscardBytes = size_t{64} << 20;  // of an oversized body, read and dropped before a 413
constexpr const char* kJson = "application/json";
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

// The endpoint label for metrics: known routes by path, everything else as "other" (bounded cardinality).
std::string_view endpoint_label(const std::string& path) {
  for (std::string_view p : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics"})
    if (path == p) return p;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

// The methods a known route answers (its Allow header), or empty for a path that is no route. httplib
// answers HEAD with the GET handler.
std::string_view allowed_methods(const std::string& path) {
  if (path == "/v1/completions" || path == "/v1/chat/completions") return "POST";
  if (path == "/v1/models" || path == "/health" || path == "/metrics") return "GET, HEAD";
  if (path.size() > std::string_view("/v1/models/").size() && path.rfind("/v1/models/", 0) == 0) return "GET, HEAD";
  return {};
}

// Compares without an early exit, so response timing does not reveal how much of a key matched.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

bool HttpServer::Impl::authorized(const httplib::Request& req) const {
  if (opt.api_key.empty()) return true;
  const std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (h.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != kScheme[i]) return false;
  return same_secret(std::string_view(h).substr(kScheme.size()), opt.api_key);
}

void HttpServer::Impl::reply_error(httplib::Response& res, std::string_view endpoint, const ApiError& e) {
  res.status = e.http_status;
  if (e.http_status == 401) res.set_header("WWW-Authenticate", "Bearer");
  if (e.http_status == 429 || e.http_status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_body(e), kJson);
  metrics.on_request(endpoint, e.http_status);
}

void HttpServer::Impl::begin_request() {
  std::lock_guard<std::mutex> lock(inflight_mu);
  ++n_inflight;
}

void HttpServer::Impl::track_request(uint64_t scheduler_id) {
  std::lock_guard<std::mutex> lock(inflight_mu);
  inflight_ids.insert(scheduler_id);
}

void HttpServer::Impl::end_request(std::span<const uint64_t> scheduler_ids) {
  {
    std::lock_guard<std::mutex> lock(inflight_mu);
    for (uint64_t id : scheduler_ids) inflight_ids.erase(id);
    --n_inflight;
  }
  inflight_cv.notify_all();
}

void HttpServer::Impl::install_routes() {
  const auto unauthorized = ApiError{.http_status = 401,
                                     .message = "[http] missing or wrong API key: send 'Authorization: Bearer <key>'",
                                     .code = "invalid_api_key"};
  server.Get("/v1/models", [this, unauthorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req)) return reply_error(res, "/v1/models", unauthorized);
    res.set_content(models_body(opt.model_name, created), kJson);
    metrics.on_request("/v1/models", 200);
  });
  server.Get(R"(/v1/models/(.+))", [this, unauthorized](const httplib::Request& req, httplib::Response& res) {
    constexpr std::string_view kEndpoint = "/v1/models/{id}";
    if (!authorized(req)) return reply_error(res, kEndpoint, unauthorized);
    const std::string id = req.matches[1];
    if (id != opt.model_name)
      return reply_error(res, kEndpoint,
                         {.http_status = 404,
                          .message = fmt::format("[http] the model '{}' does not exist; this server serves '{}'", id,
                                                 opt.model_name),
                          .param = "model",
                          .code = "model_not_found"});
    res.set_content(model_body(opt.model_name, created), kJson);
    metrics.on_request(kEndpoint, 200);
  });
  // The generation routes read their bodies themselves: cpp-httplib 0.11 enforces its payload limit on
  // Content-Length bodies only, not on chunked ones.
  for (const ApiKind kind : {ApiKind::kCompletion, ApiKind::kChat}) {
    const std::string path = kind == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions";
    server.Post(path, [this, kind, path](const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& reader) {
      // Past the limit the rest is read and dropped (up to kMaxDiscardBytes), so that the client, still
      // sending, gets to read the 413 instead of a reset connection (httplib does the same for
      // Content-Length bodies).
      std::string body;
      bool too_big = false;
      size_t n_discarded = 0;
      const auto limit = static_cast<size_t>(opt.max_body_bytes);
      const bool read = reader([&](const char* data, size_t n) {
        if (too_big || body.size() + n > limit) {
          too_big = true;
          n_discarded += n;
          return n_discarded <= kMaxDiscardBytes;
        }
        body.append(data, n);
        return true;
      });
      if (too_big || res.status == 413) {
        res.set_header("Connection", "close");
        return reply_error(res, path,
                           {.http_status = 413,
                            .message = fmt::format("[http] POST {}: the body is larger than this server's limit of {} "
                                                   "bytes (--max-body-bytes)", path, opt.max_body_bytes),
                            .code = "request_too_large"});
      }
      if (!read)
        return reply_error(res, path, {.http_status = 400,
                                       .message = fmt::format("[http] POST {}: the body could not be read", path)});
      handle_generate(req, body, res, kind);
    });
  }
  server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const infer::SchedulerStats s = sched.stats();
    const bool drain = draining.load();
    res.status = drain ? 503 : 200;
    res.set_content(fmt::format(R"({{"status":"{}","model":{},"running":{},"waiting":{}}})", drain ? "draining" : "ok",
                                nlohmann::json(opt.model_name).dump(), s.running, s.waiting),
                    kJson);
    metrics.on_request("/health", res.status);
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    metrics.on_request("/metrics", 200);  // counted before rendering, so a scrape sees itself
    res.set_content(metrics.render(sched.stats()), kPrometheusText);
  });
  // httplib's own error responses (no route, body over the limit, bad request line) have no body; give
  // them OpenAI's error JSON. Responses from the handlers above already have one.
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e{.http_status = res.status};
    if (res.status == 413) {
      e.message = fmt::format("[http] {} {}: the body has {} bytes, more than this server's limit of {} (--max-body-bytes)",
                              req.method, req.path, req.get_header_value("Content-Length"), opt.max_body_bytes);
      e.code = "request_too_large";
    } else if (const std::string_view allow = allowed_methods(req.path); res.status == 404 && !allow.empty()) {
      // A route exists for the path, not for the method (httplib says 404 for both): 405 with Allow.
      e.http_status = res.status = 405;
      e.message = fmt::format("[http] invalid method for URL ({} {}); allowed: {}", req.method, req.path, allow);
      e.code = "method_not_allowed";
      res.set_header("Allow", std::string(allow));
    } else if (res.status == 404) {
      e.message = fmt::format("[http] no route for {} {}", req.method, req.path);
      e.code = "not_found";
    } else {
      e.message = fmt::format("[http] {} {}: the request could not be read (HTTP {})", req.method, req.path, res.status);
    }
    res.set_content(error_body(e), kJson);
    metrics.on_request(endpoint_label(req.path), res.status);
  });
  server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    reply_error(res, endpoint_label(req.path),
                {.http_status = 500,
                 .message = fmt::format("[http] {} {}: internal error: {}", req.method, req.path, what),
                 .type = "server_error",
                 .code = "internal_error"});
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { shutdown(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(infer::Scheduler& scheduler,
                                                      const infer::SchedulerOptions& scheduler_options,
                                                      ServeMetrics& metrics, const infer::ChatTemplate& chat_template,
                                                      const HttpOptions& options) {
  if (options.model_name.empty()) return invalid_argument("[http.start] the model name is empty");
  if (options.max_body_bytes <= 0)
    return invalid_argument("[http.start] max_body_bytes must be > 0, got {}", options.max_body_bytes);
  if (options.port < 0 || options.port > 65535)
    return invalid_argument("[http.start] port must be in [0, 65535], got {}", options.port);
  if (options.limits.max_tokens_limit < 1)
    return invalid_argument("[http.start] max_tokens_limit must be >= 1, got {}", options.limits.max_tokens_limit);
  // A client that disconnects mid-write must not kill the process: writes then fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);

  auto impl = std::make_unique<Impl>(scheduler, metrics, chat_template, options);
  const int64_t context = scheduler_options.max_seq > 0 ? scheduler_options.max_seq : scheduler.config().max_seq;
  impl->max_prompt_tokens = context - 1;
  if (options.max_prompt_tokens > 0) impl->max_prompt_tokens = std::min(options.max_prompt_tokens, context - 1);
  impl->max_choices = std::min(kMaxChoices, scheduler_options.max_running + scheduler_options.max_queue);
  impl->created = static_cast<int64_t>(std::time(nullptr));
  impl->id_salt = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();

  const int64_t n_workers = options.n_workers > 0 ? options.n_workers
                                                  : scheduler_options.max_running + scheduler_options.max_queue +
                                                        kExtraWorkers;
  impl->server.new_task_queue = [n_workers] { return new httplib::ThreadPool(static_cast<size_t>(n_workers)); };
  impl->server.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  // Every streamed chunk is a small write: with Nagle's algorithm one waits for the ACK of the one before,
  // which the client may delay by up to 40 ms (Linux's delayed ACK). That held up the end of each streamed
  // response (its last chunk) and so the next request on a kept-alive connection. Accepted sockets
  // inherit TCP_NODELAY from the listening one.
  impl->server.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind a port in use and silently take
  // half of its connections. SO_REUSEADDR alone still allows a quick restart over TIME_WAIT sockets. The
  // callback sees each socket httplib tries before binding it; the last one is the one that listens.
  Impl* p = impl.get();
  impl->server.set_socket_options([p](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    p->listen_fd = sock;
  });
  impl->install_routes();

  if (options.port == 0) {
    p->port = p->server.bind_to_any_port(options.host);
  } else {
    p->port = p->server.bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (p->port <= 0)
    return unavailable("[http.start] cannot listen on {}:{} (address in use, or not an address of this machine)",
                       options.host, options.port);
  // Debian's httplib listens with a backlog of 5: a burst of more new connections than that (8 clients
  // starting at once, while the accept thread waits for a core) overflowed the accept queue, and each
  // dropped handshake cost its client a 1 s retransmission. Listening again only raises the bound.
  if (p->listen_fd < 0 || ::listen(p->listen_fd, SOMAXCONN) != 0)
    return internal_error("[http.start] cannot raise the listen backlog of {}:{}", options.host, p->port);
  auto listen_ended = std::make_shared<std::atomic<bool>>(false);
  p->listener = std::thread([p, listen_ended] {
    p->server.listen_after_bind();
    *listen_ended = true;
  });
  // stop() is a no-op until the accept loop runs, so shutdown() must not be able to come earlier.
  while (!p->server.is_running() && !*listen_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->opt.host; }

void HttpServer::begin_drain() { impl_->draining = true; }

void HttpServer::shutdown() {
  Impl& p = *impl_;
  std::lock_guard<std::mutex> once(p.shutdown_mu);
  if (p.shut_down) return;
  p.shut_down = true;
  p.draining = true;
  {
    std::unique_lock<std::mutex> lock(p.inflight_mu);
    const auto grace = std::chrono::duration<double>(p.opt.shutdown_grace_s);
    if (!p.inflight_cv.wait_for(lock, grace, [&] { return p.n_inflight == 0; })) {
      const std::vector<uint64_t> ids(p.inflight_ids.begin(), p.inflight_ids.end());
      lock.unlock();
      for (uint64_t id : ids) p.sched.cancel(id);  // their streams end with an error chunk
      lock.lock();
      p.inflight_cv.wait(lock, [&] { return p.n_inflight == 0; });
    }
  }
  p.server.stop();
  if (p.listener.joinable()) p.listener.join();
}

}  // namespace anvil::serve
