// Teacher generation against an in-process fake OpenAI-compatible server (cpp-httplib): right and
// wrong answers, a bad format, a malformed body, 429 + Retry-After, 5xx then success, a teacher that
// never recovers, connection refused; kept/rejected counts, retries by cause, the request shape, the
// rate limit (requests/s measured at the server, generous slack) and the concurrency bound.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "anvil/data/synth.h"
#include "anvil/data/teacher.h"

namespace anvil::data {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kRateSlack = 1.3;          // measured requests/s may exceed the limit by this factor at most
constexpr double kRetryAfterS = 1.0;        // what the fake sends in Retry-After
constexpr double kRetryAfterSlack = 0.9;    // the retry must wait at least this fraction of it

struct Reply {
  int status = 200;
  std::string content = {};      // the assistant message (status 200)
  std::string raw_body = {};     // sent as is instead of a chat.completion when non-empty
  std::string retry_after = {};
};

// A fake teacher: `decide(question, attempt)` (attempt counts from 0 per question) picks the reply.
class FakeTeacher {
 public:
  struct Seen {
    Clock::time_point at;
    std::string question;
  };

  explicit FakeTeacher(std::function<Reply(const std::string&, int)> decide, int sleep_ms = 0)
      : decide_(std::move(decide)), sleep_ms_(sleep_ms) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      const int now = ++in_flight_;
      std::string question;
      int attempt = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        max_in_flight_ = std::max(max_in_flight_, now);
        const auto j = nlohmann::json::parse(req.body);
        model_ = j.value("model", "");
        auth_ = req.get_header_value("Authorization");
        const std::string content = j["messages"][0]["content"].get<std::string>();
        const size_t q = content.rfind("Question: ");
        question = q == std::string::npos ? "" : content.substr(q + 10);
        attempt = attempts_[question]++;
        seen_.push_back({Clock::now(), question});
      }
      if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
      const Reply r = decide_(question, attempt);
      res.status = r.status;
      if (!r.retry_after.empty()) res.set_header("Retry-After", r.retry_after);
      const std::string body =
          !r.raw_body.empty() ? r.raw_body
          : r.status == 200
              ? nlohmann::json{{"object", "chat.completion"},
                               {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", r.content}}},
                                             {"finish_reason", "stop"}}}}}
                    .dump()
              : nlohmann::json{{"error", {{"message", "busy"}}}}.dump();
      res.set_content(body, "application/json");
      --in_flight_;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only stops a running server: wait for the accept loop before handing the fake out.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeTeacher() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::string model() {
    std::lock_guard<std::mutex> lock(mu_);
    return model_;
  }
  std::string auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return auth_;
  }
  int max_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }

 private:
  std::function<Reply(const std::string&, int)> decide_;
  int sleep_ms_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::atomic<int> in_flight_{0};
  int max_in_flight_ = 0;
  std::map<std::string, int> attempts_;
  std::vector<Seen> seen_;
  std::string model_, auth_;
};

std::vector<Task> tasks(size_t n, uint64_t seed) {
  auto t = generate({.kind = TaskKind::kArithmetic, .difficulty = 2, .seed = seed, .unique = true}, n);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return *t;
}

std::string wrong(const Task& t) { return "<think>\nI guess.\n</think>\nAnswer: " + t.answer + "1\n"; }

TEST(Teacher, KeepsVerifiedAnswersAndCountsEveryRejectionAndRetry) {
  const std::vector<Task> ts = tasks(12, 5);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < ts.size(); ++i) index[ts[i].question] = i;
  FakeTeacher fake([&](const std::string& q, int attempt) -> Reply {
    const size_t i = index.at(q);
    const Task& t = ts[i];
    // The synthetic worked solution is a correct, well-formed answer; the teacher adds chatter after it.
    const Reply right{.content = "\n" + t.completion + "Hope this helps!"};
    switch (i) {
      case 5: case 6: return {.content = wrong(t)};
      case 7: return {.content = "The answer is " + t.answer + "."};
      case 8: return attempt == 0 ? Reply{.raw_body = "{\"choices\": [oops"} : right;
      case 9: return attempt == 0 ? Reply{.status = 429, .retry_after = "1"} : right;
      case 10: return attempt == 0 ? Reply{.status = 500} : right;
      case 11: return {.status = 503};
      default: return right;
    }
  });
  const TeacherOptions opt{.url = fake.url(), .model = "fake-teacher", .api_key = "sekret", .requests_per_s = 0,
                           .concurrency = 3, .max_retries = 2, .backoff_initial_s = 0.01, .backoff_max_s = 0.05};
  TeacherSummary sum;
  auto results = run_teacher(ts, opt, sum);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  EXPECT_EQ(sum.n_tasks, 12u);
  EXPECT_EQ(sum.n_kept, 8u);
  EXPECT_EQ(sum.rejected["wrong_answer"], 2u);
  EXPECT_EQ(sum.rejected["bad_format"], 1u);
  EXPECT_EQ(sum.rejected["request_failed"], 1u);
  uint64_t n_rejected = 0;
  for (const auto& [r, n] : sum.rejected) n_rejected += n;
  EXPECT_EQ(sum.n_kept + n_rejected, sum.n_tasks);
  EXPECT_EQ(sum.n_requests, 17u);  // 12 first attempts + one retry each for 8, 9, 10 + two for 11
  EXPECT_EQ(sum.n_retries, 5u);
  EXPECT_EQ(sum.retry_causes["bad_response"], 1u);
  EXPECT_EQ(sum.retry_causes["429"], 1u);
  EXPECT_EQ(sum.retry_causes["5xx"], 3u);
  EXPECT_EQ(fake.seen().size(), 17u);
  EXPECT_EQ(fake.model(), "fake-teacher");
  EXPECT_EQ(fake.auth(), "Bearer sekret");
  const auto& r = *results;
  EXPECT_EQ(r[0].outcome, TeacherOutcome::kKept);
  EXPECT_EQ(r[0].completion, ts[0].completion);  // leading newline and trailing chatter cut
  EXPECT_EQ(r[9].attempts, 2);
  EXPECT_EQ(r[11].attempts, 3);
  EXPECT_NE(r[11].error.find("HTTP 503"), std::string::npos) << r[11].error;
  EXPECT_EQ(r[5].outcome, TeacherOutcome::kWrongAnswer);
  EXPECT_EQ(r[7].outcome, TeacherOutcome::kBadFormat);
  // Retry-After: 1 was honoured (the backoff alone would have retried after ≤ 0.05 s).
  std::vector<Clock::time_point> at9;
  for (const auto& s : fake.seen()) {
    if (s.question == ts[9].question) at9.push_back(s.at);
  }
  ASSERT_EQ(at9.size(), 2u);
  EXPECT_GE(std::chrono::duration<double>(at9[1] - at9[0]).count(), kRetryAfterS * kRetryAfterSlack);
  EXPECT_TRUE(sum.to_json()["rejected"].contains("bad_format"));
}

TEST(Teacher, RateLimitAndConcurrencyHold) {
  const std::vector<Task> ts = tasks(30, 9);
  std::map<std::string, const Task*> by_q;
  for (const Task& t : ts) by_q[t.question] = &t;
  FakeTeacher fake([&](const std::string& q, int) { return Reply{.content = by_q.at(q)->completion}; }, 20);
  constexpr double kRps = 25.0;
  TeacherOptions opt{.url = fake.url() + "/", .model = "m", .requests_per_s = kRps, .concurrency = 4};
  TeacherSummary sum;
  ASSERT_TRUE(run_teacher(ts, opt, sum).ok());
  EXPECT_EQ(sum.n_kept, 30u);
  const auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 30u);
  const double span = std::chrono::duration<double>(seen.back().at - seen.front().at).count();
  EXPECT_LE((seen.size() - 1) / span, kRps * kRateSlack) << "span " << span << " s";
  EXPECT_LE(fake.max_in_flight(), 4);

  // Unlimited rate, 3 workers, slow replies: never more than 3 in flight, and they do overlap.
  FakeTeacher slow([&](const std::string& q, int) { return Reply{.content = by_q.at(q)->completion}; }, 100);
  opt = {.url = slow.url(), .model = "m", .requests_per_s = 0, .concurrency = 3};
  TeacherSummary sum2;
  ASSERT_TRUE(run_teacher(std::vector<Task>(ts.begin(), ts.begin() + 12), opt, sum2).ok());
  EXPECT_EQ(sum2.n_kept, 12u);
  EXPECT_LE(slow.max_in_flight(), 3);
  EXPECT_GE(slow.max_in_flight(), 2);
}

TEST(Teacher, UnreachableTeacherAndBadOptions) {
  // Bind a socket to a free port without listening, note the port, close it: connections are refused.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK), a.sin_port = 0;
    socklen_t len = sizeof(a);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    ::close(fd);
  }
  const std::vector<Task> ts = tasks(3, 2);
  TeacherOptions opt{.url = "http://127.0.0.1:" + std::to_string(port) + "/v1", .model = "m", .requests_per_s = 0,
                     .max_retries = 1, .backoff_initial_s = 0.01, .backoff_max_s = 0.01, .timeout_s = 5};
  TeacherSummary sum;
  auto r = run_teacher(ts, opt, sum);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sum.rejected["request_failed"], 3u);
  EXPECT_EQ(sum.retry_causes["connect"], 3u);
  EXPECT_EQ(sum.n_requests, 6u);

  auto bad = [&](auto change) {
    TeacherOptions o = opt;
    change(o);
    return validate_teacher_options(o);
  };
  EXPECT_EQ(bad([](TeacherOptions& o) { o.url = "https://api.example.com/v1"; }).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(bad([](TeacherOptions& o) { o.url = "ftp://x"; }).ok());
  EXPECT_FALSE(bad([](TeacherOptions& o) { o.url = "http://host:99999/v1"; }).ok());
  EXPECT_FALSE(bad([](TeacherOptions& o) { o.model.clear(); }).ok());
  EXPECT_FALSE(bad([](TeacherOptions& o) { o.prompt_template = "no placeholder"; }).ok());
  EXPECT_FALSE(bad([](TeacherOptions& o) { o.concurrency = 0; }).ok());
  EXPECT_TRUE(bad([](TeacherOptions&) {}).ok());
  // The default template states the format and carries the question.
  const std::string p = teacher_prompt(opt, ts[0]);
  EXPECT_NE(p.find("<think>"), std::string::npos);
  EXPECT_NE(p.find("Answer: X"), std::string::npos);
  EXPECT_NE(p.find("Question: " + ts[0].question), std::string::npos);
}

}  // namespace
}  // namespace anvil::data
