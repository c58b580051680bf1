// Teacher generation: asks a teacher model behind any OpenAI-compatible endpoint (POST
// {url}/chat/completions) for worked solutions of synthetic tasks, keeps only those the task's verifier
// accepts (well-formed <think>…</think> + "Answer:" line with the right answer), and counts every other
// task under exactly one rejection reason: n_tasks = n_kept + Σ rejected. Requests retry with
// exponential backoff + jitter on connect errors, timeouts, 429, 5xx and unparsable bodies (honouring
// Retry-After), pass through one shared rate limiter, and run `concurrency` at a time. http:// only
// (cpp-httplib without OpenSSL). Docs: docs/data.md §teacher.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/progress.h"
#include "anvil/base/status.h"
#include "anvil/data/synth.h"

namespace anvil::data {

// {question} is replaced by the task's question. The default states the format the verifier expects.
inline constexpr const char* kDefaultTeacherPrompt =
    "Solve the problem below. Reason step by step inside <think> and </think> tags. After </think>, write "
    "the final answer on its own line as \"Answer: X\", where X is only the answer (a number or a name), "
    "and write nothing after that line.\n\nQuestion: {question}";

struct TeacherOptions {
  std::string url = {};    // base URL, e.g. "http://127.0.0.1:8080/v1"; requests go to {url}/chat/completions
  std::string model = {};  // the "model" field of each request
  std::string api_key = {};  // sent as "Authorization: Bearer <key>" when non-empty (the CLI reads it from an env var)
  std::string prompt_template = kDefaultTeacherPrompt;
  double temperature = 0.7;
  int max_tokens = 1024;
  double requests_per_s = 2.0;  // every attempt (retries too) passes the limiter; 0 = no limit
  int concurrency = 4;          // requests in flight at once (worker threads)
  int max_retries = 4;          // retries after the first attempt of a task
  double backoff_initial_s = 0.5, backoff_max_s = 30.0;  // delay k: min(max, initial·2^k)·U[0.5, 1)
  double max_retry_after_s = 120.0;                      // a longer Retry-After is cut to this
  double timeout_s = 120.0;                              // connect and read timeout per attempt
  uint64_t seed = 1;                                     // jitter and the request "seed" field
};

enum class TeacherOutcome { kKept, kWrongAnswer, kBadFormat, kRequestFailed };
const char* teacher_outcome_name(TeacherOutcome o);  // "kept", "wrong_answer", "bad_format", "request_failed"

struct TeacherResult {
  TeacherOutcome outcome = TeacherOutcome::kRequestFailed;
  std::string completion;  // kept: the teacher's text cut after the answer line; else what came back
  int attempts = 0;
  std::string error;  // request_failed: the last error; other rejections: what the verifier saw
};

struct TeacherSummary {
  uint64_t n_tasks = 0, n_kept = 0;
  std::map<std::string, uint64_t> rejected;  // outcome name → count
  uint64_t n_requests = 0, n_retries = 0;
  std::map<std::string, uint64_t> retry_causes;  // "429", "5xx", "connect", "timeout", "bad_response"
  std::vector<std::string> examples;             // a few rejection messages, "task i: reason: detail"
  double seconds = 0;
  double requests_per_s() const { return seconds > 0 ? static_cast<double>(n_requests) / seconds : 0.0; }
  nlohmann::json to_json() const;
};

// Checks the options (URL scheme, model, template, ranges) without touching the network.
Status validate_teacher_options(const TeacherOptions& opt);

// The user message for `task` (the template with {question} filled in).
std::string teacher_prompt(const TeacherOptions& opt, const Task& task);

// Verifies one teacher completion against `task` (cot style): kept with the completion cut after the
// answer line, or wrong_answer / bad_format with what was found.
TeacherResult judge_teacher_completion(const Task& task, const std::string& completion);

// Asks the teacher about every task; results[i] belongs to tasks[i]; counts are added to `summary`.
// The calling thread draws `progress` (optional) while the workers run. Fails only on bad options;
// per-task failures are outcomes.
Result<std::vector<TeacherResult>> run_teacher(const std::vector<Task>& tasks, const TeacherOptions& opt,
                                               TeacherSummary& summary, Progress* progress = nullptr);

}  // namespace anvil::data
