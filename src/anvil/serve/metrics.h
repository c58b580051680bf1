// ServeMetrics: the server's Prometheus metrics, shared by the HTTP and gRPC front ends and rendered in
// the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
// counters end in _total, durations are histograms in seconds with cumulative le buckets, +Inf, _sum and
// _count, so P50/P99 come from histogram_quantile(). Thread-safe: every method may be called from any
// thread (a mutex; updates are a few per token, far below its cost). `promtool check metrics` passes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/infer/scheduler.h"

namespace anvil::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending, without +Inf
  void observe(double v);
  // Appends `name`_bucket / _sum / _count lines (with `labels`, e.g. `model="m"`, may be empty).
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last = +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  explicit ServeMetrics(std::string model_name);

  // One finished request: endpoint ("/v1/completions", "grpc.Generate", ...), HTTP-like status code.
  void on_request(std::string_view endpoint, int status);
  void on_tokens(int64_t prompt_tokens, int64_t completion_tokens);
  void observe_ttft(double seconds);              // submit -> first token
  void observe_inter_token(double seconds);       // between consecutive tokens of one stream
  void observe_e2e(double seconds);               // submit -> final event
  void observe_queue(double seconds);             // submit -> admitted

  // The whole exposition: the above plus gauges from `sched` (queue depth, running batch size, KV cache
  // use) and process gauges (resident memory bytes, uptime).
  std::string render(const infer::SchedulerStats& sched) const;

 private:
  mutable std::mutex mu_;
  std::string model_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram ttft_, inter_token_, e2e_, queue_;
  double start_time_ = 0.0;
};

}  // namespace anvil::serve
