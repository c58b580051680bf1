// Internals of HttpServer shared by http_server.cpp (lifecycle, routing, auth, /health, /metrics) and
// http_generate.cpp (the two completion endpoints). EventChannel hands a request's StreamEvents from the
// scheduler thread to the worker thread answering it; closing it makes the scheduler's sink return false,
// which cancels the request. Not part of the serve layer's API.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "anvil/base/sysinfo.h"
#include "anvil/serve/http_server.h"

namespace anvil::serve {

struct TimedEvent {
  infer::StreamEvent event;
  double arrived_s = 0.0;  // wall_seconds() when the scheduler handed it over
};

class EventChannel {
 public:
  // Scheduler thread. False once the consumer is gone (the scheduler then cancels the request).
  // The consumer is woken only once what it waits for is there (no wake-up per token when it wants more).
  bool push(const infer::StreamEvent& e) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      events_.push_back({e, wall_seconds()});
      wake = ready();
    }
    if (wake) cv_.notify_one();
    return true;
  }
  // Consumer: waits at most `timeout` for `want` events (or the final one), then moves all of them to `out`
  // (cleared first); false (and `out` empty) when they did not come.
  bool pop_all_for(std::vector<TimedEvent>& out, std::chrono::milliseconds timeout, size_t want = 1) {
    out.clear();
    std::unique_lock<std::mutex> lock(mu_);
    want_ = std::max<size_t>(want, 1);
    const bool got = cv_.wait_for(lock, timeout, [&] { return ready(); });
    want_ = 1;
    if (!got) return false;
    while (!events_.empty()) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    return true;
  }
  // Consumer gone: later pushes return false.
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    events_.clear();
  }

 private:
  bool ready() const { return events_.size() >= want_ || (!events_.empty() && events_.back().event.final); }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TimedEvent> events_;
  size_t want_ = 1;  // what the waiting consumer needs before it is woken
  bool closed_ = false;
};

struct HttpServer::Impl {
  Impl(infer::Scheduler& s, ServeMetrics& m, const infer::ChatTemplate& t, const HttpOptions& o)
      : sched(s), metrics(m), chat_template(t), opt(o) {}

  infer::Scheduler& sched;
  ServeMetrics& metrics;
  const infer::ChatTemplate& chat_template;
  HttpOptions opt;
  int64_t max_prompt_tokens = 0;  // resolved (opt.max_prompt_tokens or the context - 1)
  int64_t max_choices = 0;        // choices one request may hold: the scheduler's slots + queue
  int64_t created = 0;            // Unix seconds at start (the model's "created")
  uint64_t id_salt = 0;           // random per server: response ids differ across restarts

  httplib::Server server;
  std::thread listener;
  int port = 0;
  int listen_fd = -1;  // the listening socket (set while binding)
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> n_requests{0};  // generation requests seen (ids, default seeds)

  // Generation requests between admission and their last byte; shutdown() waits for zero.
  std::mutex inflight_mu;
  std::condition_variable inflight_cv;
  std::set<uint64_t> inflight_ids;  // scheduler ids of submitted ones (cancelled when the grace runs out)
  int64_t n_inflight = 0;
  std::mutex shutdown_mu;
  bool shut_down = false;

  void install_routes();
  bool authorized(const httplib::Request& req) const;
  void reply_error(httplib::Response& res, std::string_view endpoint, const ApiError& e);
  void handle_generate(const httplib::Request& req, const std::string& body, httplib::Response& res, ApiKind kind);
  // In-flight bookkeeping: begin before the drain check, track once submitted, end after the last byte.
  void begin_request();
  void track_request(uint64_t scheduler_id);
  void end_request(std::span<const uint64_t> scheduler_ids);
};

}  // namespace anvil::serve
