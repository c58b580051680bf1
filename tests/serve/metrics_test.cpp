// ServeMetrics: histogram buckets follow Prometheus `le` semantics (a value equal to a bound counts in
// that bucket; cumulative counts; +Inf = count), label values are escaped, and `promtool check metrics`
// (Debian's prometheus package) accepts the whole exposition — and rejects a broken one, so the check
// is live.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "anvil/base/file.h"
#include "anvil/serve/metrics.h"

namespace anvil::serve {
namespace {

std::string render_histogram(const Histogram& h) {
  std::string out;
  h.render(out, "t_seconds", "a=\"b\"");
  return out;
}

TEST(Histogram, CumulativeLeBuckets) {
  Histogram h({0.125, 1.0});  // binary fractions: the sum prints exactly
  for (double v : {0.0625, 0.125, 0.5, 1.0, 7.0}) h.observe(v);
  const std::string out = render_histogram(h);
  EXPECT_NE(out.find("t_seconds_bucket{a=\"b\",le=\"0.125\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_bucket{a=\"b\",le=\"1\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_bucket{a=\"b\",le=\"+Inf\"} 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_sum{a=\"b\"} 8.6875\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_count{a=\"b\"} 5\n"), std::string::npos) << out;
  std::string unlabelled;
  h.render(unlabelled, "u_seconds", "");
  EXPECT_NE(unlabelled.find("u_seconds_bucket{le=\"0.125\"} 2\n"), std::string::npos) << unlabelled;
  EXPECT_NE(unlabelled.find("u_seconds_count 5\n"), std::string::npos) << unlabelled;
}

void make_busy(ServeMetrics& m) {
  m.on_request("/v1/completions", 200);
  m.on_request("/v1/completions", 200);
  m.on_request("/v1/chat/completions", 429);
  m.on_tokens(10, 20);
  m.observe_ttft(0.02);
  m.observe_inter_token(0.003);
  m.observe_e2e(0.5);
  m.observe_queue(0.001);
}

const infer::SchedulerStats kStats{.waiting = 3, .running = 2, .kv_used_tokens = 100, .kv_capacity_tokens = 400,
                                   .last_batch_tokens = 2, .n_forwards = 7, .n_completed = 5, .n_cancelled = 1,
                                   .n_failed = 0, .n_prefill_tokens = 90, .n_prefix_tokens_reused = 39};

TEST(ServeMetrics, RendersEveryFamily) {
  ServeMetrics m("tiny");
  make_busy(m);
  const std::string out = m.render(kStats);
  for (const char* line :
       {"anvil_requests_total{model=\"tiny\",endpoint=\"/v1/completions\",status=\"200\"} 2\n",
        "anvil_requests_total{model=\"tiny\",endpoint=\"/v1/chat/completions\",status=\"429\"} 1\n",
        "anvil_prompt_tokens_total{model=\"tiny\"} 10\n", "anvil_completion_tokens_total{model=\"tiny\"} 20\n",
        "anvil_time_to_first_token_seconds_count{model=\"tiny\"} 1\n",
        "anvil_inter_token_latency_seconds_bucket{model=\"tiny\",le=\"0.005\"} 1\n",
        "anvil_request_duration_seconds_sum{model=\"tiny\"} 0.5\n", "anvil_queue_depth{model=\"tiny\"} 3\n",
        "anvil_running_sequences{model=\"tiny\"} 2\n", "anvil_kv_cache_used_tokens{model=\"tiny\"} 100\n",
        "anvil_kv_cache_usage_ratio{model=\"tiny\"} 0.25\n", "anvil_prefill_tokens_total{model=\"tiny\"} 90\n",
        "anvil_prefix_reused_tokens_total{model=\"tiny\"} 39\n", "# TYPE anvil_requests_total counter\n",
        "# TYPE anvil_time_to_first_token_seconds histogram\n", "# TYPE process_resident_memory_bytes gauge\n"})
    EXPECT_NE(out.find(line), std::string::npos) << "missing: " << line << "\n" << out;
}

TEST(ServeMetrics, EscapesLabelValues) {
  ServeMetrics m("a\"b\\c\nd");
  make_busy(m);
  const std::string out = m.render(kStats);
  EXPECT_NE(out.find(R"(model="a\"b\\c\nd")"), std::string::npos) << out;
}

// Runs `promtool check metrics` on `text`; returns its exit status (-1 when promtool is missing).
int promtool(const std::string& text) {
  if (std::system("command -v promtool > /dev/null 2>&1") != 0) return -1;
  const auto path = std::filesystem::temp_directory_path() / ("anvil_metrics_" + std::to_string(getpid()) + ".txt");
  EXPECT_TRUE(write_file_atomic(path.string(), text).ok());
  const int rc = std::system(("promtool check metrics < " + path.string()).c_str());
  std::filesystem::remove(path);
  return rc;
}

TEST(ServeMetrics, PromtoolAcceptsTheExposition) {
  ServeMetrics m("tiny \"quoted\"");
  make_busy(m);
  const std::string out = m.render(kStats);
  const int rc = promtool(out);
  if (rc == -1) GTEST_SKIP() << "promtool not installed (Debian package prometheus, scripts/setup.sh)";
  EXPECT_EQ(rc, 0) << out;
  // The checker is live: a counter without _total and without HELP fails it.
  EXPECT_NE(promtool("# TYPE bad counter\nbad 1\n"), 0);
}

}  // namespace
}  // namespace anvil::serve
