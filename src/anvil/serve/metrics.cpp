// ServeMetrics (see metrics.h): counters, histograms and gauges rendered as Prometheus text exposition
// 0.0.4. Every family has # HELP and # TYPE lines, counters end in _total, durations are in seconds, and
// label values are escaped (\\, \", \n), so `promtool check metrics` accepts the output.
// Reference: https://prometheus.io/docs/instrumenting/exposition_formats/ and the naming guide.
#include "anvil/serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "anvil/base/check.h"
#include "anvil/base/sysinfo.h"

namespace anvil::serve {
namespace {

// Bucket bounds in seconds: request-level latencies span ms (tiny models) to minutes (long completions);
// inter-token gaps span sub-ms to a second.
const std::vector<double> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                             1.0,   2.5,    5.0,   10.0, 30.0,  60.0, 120.0, 300.0};
const std::vector<double> kInterTokenBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                0.1,    0.2,   0.5,   1.0,   2.0,  5.0};

// A sample value as Prometheus reads it (Go ParseFloat): shortest round-trip decimal, +Inf/-Inf/NaN.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  if (labels.empty()) fmt::format_to(std::back_inserter(out), "{} {}\n", name, number(v));
  else fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, number(v));
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  ANVIL_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::observe(double v) {
  // Bucket i holds bounds_[i-1] < v <= bounds_[i] (Prometheus le semantics); the last one is +Inf.
  const auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  sample(out, fmt::format("{}_sum", name), labels, sum_);
  sample(out, fmt::format("{}_count", name), labels, static_cast<double>(count_));
}

ServeMetrics::ServeMetrics(std::string model_name)
    : model_(std::move(model_name)),
      ttft_(kLatencyBuckets),
      inter_token_(kInterTokenBuckets),
      e2e_(kLatencyBuckets),
      queue_(kLatencyBuckets),
      start_time_(wall_seconds()) {}

void ServeMetrics::on_request(std::string_view endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{std::string(endpoint), status}];
}

void ServeMetrics::on_tokens(int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(prompt_tokens, 0));
  completion_tokens_ += static_cast<uint64_t>(std::max<int64_t>(completion_tokens, 0));
}

void ServeMetrics::observe_ttft(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(seconds);
}
void ServeMetrics::observe_inter_token(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  inter_token_.observe(seconds);
}
void ServeMetrics::observe_e2e(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  e2e_.observe(seconds);
}
void ServeMetrics::observe_queue(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.observe(seconds);
}

std::string ServeMetrics::render(const infer::SchedulerStats& s) const {
  const MemoryUsage mem = memory_usage();
  std::string out;
  out.reserve(8192);
  std::lock_guard<std::mutex> lock(mu_);
  const std::string model = fmt::format("model=\"{}\"", escape_label(model_));

  family(out, "anvil_requests_total", "counter", "Finished requests by endpoint and HTTP status code.");
  for (const auto& [key, n] : requests_)
    sample(out, "anvil_requests_total",
           fmt::format("{},endpoint=\"{}\",status=\"{}\"", model, escape_label(key.first), key.second),
           static_cast<double>(n));
  family(out, "anvil_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  sample(out, "anvil_prompt_tokens_total", model, static_cast<double>(prompt_tokens_));
  family(out, "anvil_completion_tokens_total", "counter", "Generated tokens of finished requests.");
  sample(out, "anvil_completion_tokens_total", model, static_cast<double>(completion_tokens_));

  family(out, "anvil_time_to_first_token_seconds", "histogram", "Submit to first sampled token.");
  ttft_.render(out, "anvil_time_to_first_token_seconds", model);
  family(out, "anvil_inter_token_latency_seconds", "histogram", "Gap between consecutive tokens of one stream.");
  inter_token_.render(out, "anvil_inter_token_latency_seconds", model);
  family(out, "anvil_request_duration_seconds", "histogram", "Submit to last token (end-to-end latency).");
  e2e_.render(out, "anvil_request_duration_seconds", model);
  family(out, "anvil_queue_time_seconds", "histogram", "Submit to admission into a decoding slot.");
  queue_.render(out, "anvil_queue_time_seconds", model);

  family(out, "anvil_queue_depth", "gauge", "Requests waiting for a decoding slot.");
  sample(out, "anvil_queue_depth", model, static_cast<double>(s.waiting));
  family(out, "anvil_running_sequences", "gauge", "Sequences holding a decoding slot (running batch size).");
  sample(out, "anvil_running_sequences", model, static_cast<double>(s.running));
  family(out, "anvil_batch_tokens", "gauge", "Tokens in the latest forward pass.");
  sample(out, "anvil_batch_tokens", model, static_cast<double>(s.last_batch_tokens));
  family(out, "anvil_kv_cache_used_tokens", "gauge", "KV cache positions in use over all slots.");
  sample(out, "anvil_kv_cache_used_tokens", model, static_cast<double>(s.kv_used_tokens));
  family(out, "anvil_kv_cache_capacity_tokens", "gauge", "KV cache positions over all slots.");
  sample(out, "anvil_kv_cache_capacity_tokens", model, static_cast<double>(s.kv_capacity_tokens));
  family(out, "anvil_kv_cache_usage_ratio", "gauge", "KV cache use: used / capacity positions (0..1).");
  sample(out, "anvil_kv_cache_usage_ratio", model,
         s.kv_capacity_tokens > 0 ? static_cast<double>(s.kv_used_tokens) / static_cast<double>(s.kv_capacity_tokens)
                                  : 0.0);
  family(out, "anvil_forward_passes_total", "counter", "Engine forward passes (one per scheduler step).");
  sample(out, "anvil_forward_passes_total", model, static_cast<double>(s.n_forwards));
  family(out, "anvil_prefill_tokens_total", "counter", "Prompt positions run through the engine.");
  sample(out, "anvil_prefill_tokens_total", model, static_cast<double>(s.n_prefill_tokens));
  family(out, "anvil_prefix_reused_tokens_total", "counter",
         "Prompt positions copied from another running sequence's KV cache instead of prefilled.");
  sample(out, "anvil_prefix_reused_tokens_total", model, static_cast<double>(s.n_prefix_tokens_reused));
  family(out, "anvil_scheduler_requests_total", "counter", "Requests the scheduler finished, by outcome.");
  sample(out, "anvil_scheduler_requests_total", model + ",outcome=\"completed\"", static_cast<double>(s.n_completed));
  sample(out, "anvil_scheduler_requests_total", model + ",outcome=\"cancelled\"", static_cast<double>(s.n_cancelled));
  sample(out, "anvil_scheduler_requests_total", model + ",outcome=\"failed\"", static_cast<double>(s.n_failed));

  family(out, "process_resident_memory_bytes", "gauge", "Resident set size (VmRSS).");
  sample(out, "process_resident_memory_bytes", "", static_cast<double>(mem.rss_bytes));
  family(out, "anvil_peak_resident_memory_bytes", "gauge", "Peak resident set size (VmHWM).");
  sample(out, "anvil_peak_resident_memory_bytes", "", static_cast<double>(mem.peak_rss_bytes));
  family(out, "anvil_uptime_seconds", "gauge", "Seconds since the server started.");
  sample(out, "anvil_uptime_seconds", "", wall_seconds() - start_time_);
  return out;
}

}  // namespace anvil::serve
