// Teacher generation over an OpenAI-compatible chat endpoint (teacher.h): URL parsing, the shared rate
// limiter, the per-task retry loop, verification, and the worker threads. Threads: `concurrency`
// workers take task indices from one atomic counter, each with its own httplib::Client; the calling
// thread only draws the progress line. The summary is merged under a mutex once per task.
#include "anvil/data/teacher.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "anvil/base/rng.h"
#include "anvil/data/verify.h"

namespace anvil::data {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxExamples = 8;       // rejection messages kept in the summary
constexpr size_t kMaxErrorBody = 200;    // characters of an HTTP error body quoted in messages
constexpr const char* kPlaceholder = "{question}";

struct Endpoint {
  std::string host;
  int port = 80;
  std::string path;  // "/v1/chat/completions"
};

Result<Endpoint> parse_url(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  if (url.starts_with("https://")) {
    return unimplemented("[teacher] '{}': https is not supported (anvil's HTTP client is built without OpenSSL); "
                         "use http:// or a local TLS-terminating proxy",
                         url);
  }
  if (!url.starts_with(kHttp)) return invalid_argument("[teacher] url '{}' must start with http://", url);
  std::string rest = url.substr(kHttp.size());
  Endpoint e;
  const size_t slash = rest.find('/');
  std::string hostport = slash == std::string::npos ? rest : rest.substr(0, slash);
  e.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!e.path.empty() && e.path.back() == '/') e.path.pop_back();
  e.path += "/chat/completions";
  const size_t colon = hostport.rfind(':');
  if (colon != std::string::npos) {
    const std::string port = hostport.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return invalid_argument("[teacher] url '{}': bad port '{}'", url, port);
    }
    e.port = std::stoi(port);
    hostport.resize(colon);
  }
  if (hostport.empty()) return invalid_argument("[teacher] url '{}' has no host", url);
  e.host = hostport;
  return e;
}

// Spaces attempts 1/rps apart across all workers: each caller reserves the next free slot and sleeps
// until it, so no window of length w holds more than w·rps + 1 requests.
class RateLimiter {
 public:
  explicit RateLimiter(double rps) : interval_(rps > 0 ? 1.0 / rps : 0.0), next_(Clock::now()) {}
  void acquire() {
    if (interval_ <= 0) return;
    Clock::time_point slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot = std::max(next_, Clock::now());
      next_ = slot + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  double interval_;
  std::mutex mu_;
  Clock::time_point next_;
};

std::string cut(std::string s, size_t n) {
  if (s.size() > n) s.resize(n), s += "…";
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// Seconds from a Retry-After header in its delay-seconds form; an HTTP-date (or junk) gives -1 and the
// plain backoff applies.
double retry_after_seconds(const httplib::Response& res) {
  if (!res.has_header("Retry-After")) return -1;
  const std::string v = res.get_header_value("Retry-After");
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  return end != v.c_str() && *end == '\0' && s >= 0 ? s : -1;
}

// Per-task counters, merged into the summary at the end of the task.
struct Attempts {
  uint64_t n_requests = 0, n_retries = 0;
  std::map<std::string, uint64_t> causes;
};

TeacherResult ask(const Task& task, size_t index, const TeacherOptions& opt, const Endpoint& ep,
                  httplib::Client& cli, RateLimiter& limiter, Attempts& at) {
  nlohmann::json body = {{"model", opt.model},
                         {"messages", {{{"role", "user"}, {"content", teacher_prompt(opt, task)}}}},
                         {"temperature", opt.temperature},
                         {"max_tokens", opt.max_tokens},
                         {"seed", opt.seed + index}};
  const std::string payload = body.dump();
  httplib::Headers headers;
  if (!opt.api_key.empty()) headers.emplace("Authorization", "Bearer " + opt.api_key);
  Rng jitter = Rng(opt.seed ^ 0x7eac4e5ull).fork(index);
  TeacherResult r;
  for (int attempt = 0;; ++attempt) {
    limiter.acquire();
    ++at.n_requests;
    r.attempts = attempt + 1;
    auto res = cli.Post(ep.path, headers, payload, "application/json");
    std::string cause;
    double retry_after = -1;
    if (!res) {
      const httplib::Error e = res.error();
      cause = e == httplib::Error::Connection ? "connect" : e == httplib::Error::ConnectionTimeout ? "timeout" : "io";
      r.error = fmt::format("{} error: {}", cause, httplib::to_string(e));
    } else if (res->status == 429 || res->status >= 500) {
      cause = res->status == 429 ? "429" : "5xx";
      retry_after = retry_after_seconds(*res);
      r.error = fmt::format("HTTP {}: {}", res->status, cut(res->body, kMaxErrorBody));
    } else if (res->status != 200) {  // 4xx other than 429: the request itself is wrong, retrying won't help
      r.outcome = TeacherOutcome::kRequestFailed;
      r.error = fmt::format("HTTP {} from {}:{}{}: {}", res->status, ep.host, ep.port, ep.path,
                            cut(res->body, kMaxErrorBody));
      return r;
    } else {
      const auto j = nlohmann::json::parse(res->body, nullptr, false);
      const nlohmann::json* content = nullptr;
      if (!j.is_discarded() && j.is_object() && j.contains("choices") && j["choices"].is_array() &&
          !j["choices"].empty() && j["choices"][0].is_object() && j["choices"][0].contains("message") &&
          j["choices"][0]["message"].is_object() && j["choices"][0]["message"].contains("content") &&
          j["choices"][0]["message"]["content"].is_string()) {
        content = &j["choices"][0]["message"]["content"];
      }
      if (content) {
        const int attempts = r.attempts;
        r = judge_teacher_completion(task, content->get<std::string>());
        r.attempts = attempts;
        return r;
      }
      cause = "bad_response";
      r.error = fmt::format("bad_response: no choices[0].message.content string in '{}'", cut(res->body, kMaxErrorBody));
    }
    if (attempt >= opt.max_retries) {
      r.outcome = TeacherOutcome::kRequestFailed;
      r.error = fmt::format("gave up after {} attempts; last: {}", attempt + 1, r.error);
      return r;
    }
    ++at.n_retries, ++at.causes[cause];
    double delay = std::min(opt.backoff_max_s, opt.backoff_initial_s * std::ldexp(1.0, attempt));
    delay *= 0.5 + 0.5 * jitter.uniform_f64();
    if (retry_after >= 0) delay = std::max(delay, std::min(retry_after, opt.max_retry_after_s));
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
}

}  // namespace

const char* teacher_outcome_name(TeacherOutcome o) {
  switch (o) {
    case TeacherOutcome::kKept: return "kept";
    case TeacherOutcome::kWrongAnswer: return "wrong_answer";
    case TeacherOutcome::kBadFormat: return "bad_format";
    case TeacherOutcome::kRequestFailed: return "request_failed";
  }
  return "unknown";
}

nlohmann::json TeacherSummary::to_json() const {
  return {{"n_tasks", n_tasks},       {"n_kept", n_kept},
          {"rejected", rejected},     {"n_requests", n_requests},
          {"n_retries", n_retries},   {"retry_causes", retry_causes},
          {"examples", examples},     {"seconds", seconds},
          {"requests_per_s", requests_per_s()}};
}

Status validate_teacher_options(const TeacherOptions& opt) {
  ANVIL_RETURN_IF_ERROR(parse_url(opt.url).status());
  if (opt.model.empty()) return invalid_argument("[teacher] a model name is required");
  if (opt.prompt_template.find(kPlaceholder) == std::string::npos) {
    return invalid_argument("[teacher] the prompt template has no {} placeholder", kPlaceholder);
  }
  if (opt.concurrency < 1) return invalid_argument("[teacher] concurrency {} must be >= 1", opt.concurrency);
  if (opt.max_retries < 0) return invalid_argument("[teacher] retries {} must be >= 0", opt.max_retries);
  if (!(opt.requests_per_s >= 0)) return invalid_argument("[teacher] rps {} must be >= 0 (0 = no limit)", opt.requests_per_s);
  if (opt.max_tokens < 1) return invalid_argument("[teacher] max_tokens {} must be >= 1", opt.max_tokens);
  if (!(opt.timeout_s > 0)) return invalid_argument("[teacher] timeout {} s must be > 0", opt.timeout_s);
  if (!(opt.backoff_initial_s >= 0 && opt.backoff_max_s >= opt.backoff_initial_s)) {
    return invalid_argument("[teacher] backoff {} s .. {} s is not a range", opt.backoff_initial_s, opt.backoff_max_s);
  }
  return ok_status();
}

std::string teacher_prompt(const TeacherOptions& opt, const Task& task) {
  std::string s = opt.prompt_template;
  for (size_t p = s.find(kPlaceholder); p != std::string::npos; p = s.find(kPlaceholder, p + task.question.size())) {
    s.replace(p, std::string_view(kPlaceholder).size(), task.question);
  }
  return s;
}

TeacherResult judge_teacher_completion(const Task& task, const std::string& completion) {
  TeacherResult r;
  r.completion = completion;
  if (!is_well_formed(completion, Style::kCot)) {
    r.outcome = TeacherOutcome::kBadFormat;
    r.error = fmt::format("no single <think>…</think> block followed by an 'Answer:' line in '{}'", cut(completion, 120));
    return r;
  }
  if (verify(task.answer, Style::kCot, completion).accuracy < 1.0) {
    r.outcome = TeacherOutcome::kWrongAnswer;
    r.error = fmt::format("answered '{}', expected '{}'", extract_answer(completion, Style::kCot).value_or(""),
                          task.answer);
    return r;
  }
  // Kept: leading whitespace off, everything after the answer line off (a sampler may run past it).
  const size_t start = completion.find_first_not_of(" \t\r\n");
  const size_t answer = completion.find("Answer:", completion.rfind("</think>"));
  const size_t eol = completion.find('\n', answer);
  r.completion = completion.substr(start, (eol == std::string::npos ? completion.size() : eol) - start);
  while (!r.completion.empty() && (r.completion.back() == ' ' || r.completion.back() == '\r')) r.completion.pop_back();
  r.completion += '\n';
  r.outcome = TeacherOutcome::kKept;
  return r;
}

Result<std::vector<TeacherResult>> run_teacher(const std::vector<Task>& tasks, const TeacherOptions& opt,
                                               TeacherSummary& summary, Progress* progress) {
  ANVIL_RETURN_IF_ERROR(validate_teacher_options(opt));
  for (const Task& t : tasks) {
    if (t.style != Style::kCot) return invalid_argument("[teacher] tasks must use the cot style (the teacher writes <think>)");
  }
  ANVIL_ASSIGN_OR_RETURN(const Endpoint ep, parse_url(opt.url));
  const auto t0 = Clock::now();
  std::vector<TeacherResult> results(tasks.size());
  RateLimiter limiter(opt.requests_per_s);
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> n_done{0};
  std::mutex mu;
  auto worker = [&] {
    httplib::Client cli(ep.host, ep.port);
    const auto timeout = std::chrono::duration<double>(opt.timeout_s);
    const auto sec = static_cast<time_t>(opt.timeout_s);
    const auto usec = static_cast<time_t>((timeout.count() - static_cast<double>(sec)) * 1e6);
    cli.set_connection_timeout(sec, usec);
    cli.set_read_timeout(sec, usec);
    cli.set_write_timeout(sec, usec);
    cli.set_keep_alive(true);
    for (size_t i = next++; i < tasks.size(); i = next++) {
      Attempts at;
      results[i] = ask(tasks[i], i, opt, ep, cli, limiter, at);
      std::lock_guard<std::mutex> lock(mu);
      summary.n_requests += at.n_requests, summary.n_retries += at.n_retries;
      for (const auto& [c, n] : at.causes) summary.retry_causes[c] += n;
      const TeacherResult& r = results[i];
      if (r.outcome == TeacherOutcome::kKept) {
        ++summary.n_kept;
      } else {
        ++summary.rejected[teacher_outcome_name(r.outcome)];
        if (summary.examples.size() < kMaxExamples) {
          summary.examples.push_back(fmt::format("task {}: {}: {}", i, teacher_outcome_name(r.outcome), r.error));
        }
      }
      ++n_done;
    }
  };
  const size_t n_workers = std::min<size_t>(static_cast<size_t>(opt.concurrency), std::max<size_t>(tasks.size(), 1));
  std::vector<std::thread> pool;
  for (size_t w = 0; w < n_workers; ++w) pool.emplace_back(worker);
  while (n_done.load() < tasks.size()) {
    if (progress) {
      {
        std::lock_guard<std::mutex> lock(mu);
        progress->set_note(fmt::format("kept {}", summary.n_kept));
      }
      progress->update(n_done.load());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : pool) t.join();
  if (progress) progress->update(n_done.load()), progress->finish();
  summary.n_tasks += tasks.size();
  summary.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return results;
}

}  // namespace anvil::data
