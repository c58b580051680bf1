// `anvil synth`: writes built-in verifiable reasoning tasks (arithmetic, word problems, ordering
// puzzles) as JSONL documents (docs/data.md §synthetic), or GSM8K-style {question, answer "… #### X"}.
// With --teacher-url the worked solutions come from a teacher model behind an OpenAI-compatible endpoint
// and only verified ones are written (docs/data.md §teacher); the API key is read from an env variable.
#include <cstdio>
#include <cstdlib>

#include "anvil/base/file.h"
#include "anvil/cli/command.h"
#include "anvil/data/synth.h"
#include "anvil/data/teacher.h"

namespace anvil::cli {
namespace {

struct SynthArgs {
  std::string task = "mix", style = "cot", split = "train", format = "docs", out;
  size_t n = 1000;
  int difficulty = 2;
  uint64_t seed = 1;
  bool unique = false;
  // Teacher mode (on when teacher_url is set).
  std::string teacher_url, teacher_model, teacher_api_key_env, teacher_prompt_file, report;
  double teacher_temperature = 0.7, teacher_rps = 2.0, teacher_timeout = 120.0;
  int teacher_max_tokens = 1024, teacher_concurrency = 4, teacher_retries = 4;
};

// Replaces each task's completion by the teacher's verified one; rejected tasks leave the list.
// Returns the kept tasks with their original indices (ids keep the index, so gaps show rejections).
Result<std::vector<std::pair<size_t, data::Task>>> ask_teacher(const SynthArgs& a, std::vector<data::Task> tasks) {
  using namespace anvil::data;
  TeacherOptions opt{.url = a.teacher_url, .model = a.teacher_model};
  if (!a.teacher_api_key_env.empty()) {
    const char* key = std::getenv(a.teacher_api_key_env.c_str());
    if (!key || !*key) {
      return invalid_argument("[synth] --teacher-api-key-env {}: that environment variable is not set", a.teacher_api_key_env);
    }
    opt.api_key = key;
  }
  if (!a.teacher_prompt_file.empty()) {
    ANVIL_ASSIGN_OR_RETURN(opt.prompt_template, read_file(a.teacher_prompt_file));
  }
  opt.temperature = a.teacher_temperature, opt.max_tokens = a.teacher_max_tokens;
  opt.requests_per_s = a.teacher_rps, opt.concurrency = a.teacher_concurrency, opt.max_retries = a.teacher_retries;
  opt.timeout_s = a.teacher_timeout, opt.seed = a.seed;
  TeacherSummary summary;
  std::vector<TeacherResult> results;
  {
    Progress progress("teacher", tasks.size(), "tasks");
    ANVIL_ASSIGN_OR_RETURN(results, run_teacher(tasks, opt, summary, &progress));
  }
  std::vector<std::pair<size_t, Task>> kept;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (results[i].outcome != TeacherOutcome::kKept) continue;
    tasks[i].completion = results[i].completion;
    kept.emplace_back(i, std::move(tasks[i]));
  }
  std::string rejected;
  for (const auto& [reason, n] : summary.rejected) rejected += fmt::format(" {} {},", reason, n);
  std::fprintf(stderr,
               "anvil synth: teacher %s at %s: %llu tasks, %llu kept, rejected:%s %llu requests (%llu retries) "
               "in %.1f s (%.2f requests/s)\n",
               a.teacher_model.c_str(), a.teacher_url.c_str(), static_cast<unsigned long long>(summary.n_tasks),
               static_cast<unsigned long long>(summary.n_kept), rejected.empty() ? " none," : rejected.c_str(),
               static_cast<unsigned long long>(summary.n_requests), static_cast<unsigned long long>(summary.n_retries),
               summary.seconds, summary.requests_per_s());
  for (const auto& e : summary.examples) std::fprintf(stderr, "  %s\n", e.c_str());
  if (!a.report.empty()) {
    nlohmann::json r = summary.to_json();
    r["url"] = a.teacher_url, r["model"] = a.teacher_model;
    r["options"] = {{"temperature", opt.temperature}, {"max_tokens", opt.max_tokens}, {"rps", opt.requests_per_s},
                    {"concurrency", opt.concurrency}, {"retries", opt.max_retries}};
    ANVIL_RETURN_IF_ERROR(write_file_atomic(a.report, r.dump(1)));
  }
  const auto failed = summary.rejected.find("request_failed");
  if (!tasks.empty() && failed != summary.rejected.end() && failed->second == tasks.size()) {
    return unavailable("[synth] every request to the teacher at {} failed; first: {}", a.teacher_url,
                       summary.examples.empty() ? "" : summary.examples.front());
  }
  return kept;
}

Status run_synth(const SynthArgs& a) {
  using namespace anvil::data;
  ANVIL_ASSIGN_OR_RETURN(TaskKind kind, parse_task_kind(a.task));
  ANVIL_ASSIGN_OR_RETURN(Style style, parse_style(a.style));
  ANVIL_ASSIGN_OR_RETURN(Split split, parse_split(a.split));
  if (a.format != "docs" && a.format != "gsm8k" && a.format != "text") {
    return invalid_argument("[synth] unknown --format '{}' (expected docs|gsm8k|text)", a.format);
  }
  const SynthOptions opt{.kind = kind, .difficulty = a.difficulty, .seed = a.seed, .split = split,
                         .style = style, .unique = a.unique};
  ANVIL_ASSIGN_OR_RETURN(std::vector<Task> generated, generate(opt, a.n));
  std::vector<std::pair<size_t, Task>> tasks;
  if (a.teacher_url.empty()) {
    for (size_t i = 0; i < generated.size(); ++i) tasks.emplace_back(i, std::move(generated[i]));
  } else {
    if (style != Style::kCot) return invalid_argument("[synth] --teacher-url needs --style cot");
    ANVIL_ASSIGN_OR_RETURN(tasks, ask_teacher(a, std::move(generated)));
  }
  const bool to_stdout = a.out == "-";
  AtomicFileWriter w;
  if (!to_stdout) ANVIL_RETURN_IF_ERROR(w.open(a.out));
  std::string line;
  for (const auto& [i, t] : tasks) {
    const std::string id = fmt::format("synth-{}-d{}-s{}-{}-{}", task_kind_name(t.kind), t.difficulty, a.seed,
                                       split_name(split), i);
    if (a.format == "docs") {
      nlohmann::json doc = task_to_json(t, id, split);
      if (!a.teacher_url.empty()) doc["source"] = "teacher:" + a.teacher_model;
      line = doc.dump();
    } else if (a.format == "text") {
      // Plain text, one document per blank-line-separated block (task texts hold no blank line).
      line = task_to_json(t, id, split)["text"].get<std::string>();
      while (!line.empty() && line.back() == '\n') line.pop_back();
      line += '\n';
    } else {
      // GSM8K layout: the reasoning lines, then "#### answer".
      std::string reasoning;
      const size_t open = t.completion.find("<think>\n"), close = t.completion.find("</think>");
      if (open != std::string::npos && close != std::string::npos) {
        reasoning = t.completion.substr(open + 8, close - open - 8);
      }
      line = nlohmann::json{{"question", t.question}, {"answer", reasoning + "#### " + t.answer}}.dump();
    }
    line += '\n';
    if (to_stdout) {
      std::fwrite(line.data(), 1, line.size(), stdout);
    } else {
      ANVIL_RETURN_IF_ERROR(w.write(line.data(), line.size()));
    }
  }
  if (to_stdout) {
    if (std::fflush(stdout) != 0) return io_error("[synth] writing to standard output failed");
  } else {
    ANVIL_RETURN_IF_ERROR(w.commit());
  }
  std::fprintf(stderr, "anvil synth: wrote %zu %s tasks (%s, difficulty %d, seed %llu, %s split) to %s\n",
               tasks.size(), a.task.c_str(), a.style.c_str(), a.difficulty, static_cast<unsigned long long>(a.seed),
               a.split.c_str(), a.out.c_str());
  return ok_status();
}

}  // namespace

Command register_synth(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<SynthArgs>();
  Command c;
  c.app = app.add_subcommand(
      "synth",
      "Generate verifiable reasoning tasks as JSONL.\n"
      "Each document is {\"id\",\"text\",\"source\":\"synthetic\",\"prompt\",\"answer\",\"meta\":{task,answer,"
      "difficulty,style,split}}.\n"
      "CoT text: \"Question: Q\\n<think>\\nsteps\\n</think>\\nAnswer: X\\n\"; direct: \"Question: Q\\nAnswer: X\\n\".\n"
      "Same options and seed give the same file; train and eval splits never share a question.\n"
      "With --teacher-url/--teacher-model, each task's worked solution is asked of a teacher model behind an "
      "OpenAI-compatible endpoint; only answers the task's verifier accepts are written (see the Teacher options).");
  c.app->add_option("--task", args->task, "arithmetic|word|logic|mix")
      ->check(CLI::IsMember({"arithmetic", "word", "logic", "mix"}))
      ->capture_default_str();
  c.app->add_option("--n", args->n, "number of tasks")->capture_default_str();
  c.app->add_option("--difficulty", args->difficulty, "1..8: digits/steps (arithmetic), steps (word), people (logic)")
      ->check(CLI::Range(data::kMinDifficulty, data::kMaxDifficulty))
      ->capture_default_str();
  c.app->add_option("--seed", args->seed, "generator seed")->capture_default_str();
  c.app->add_option("--style", args->style, "cot (reasoning in <think>) or direct (answer only)")
      ->check(CLI::IsMember({"cot", "direct"}))
      ->capture_default_str();
  c.app->add_option("--split", args->split, "train|eval|all (1 question in 8, by hash, is eval)")
      ->check(CLI::IsMember({"train", "eval", "all"}))
      ->capture_default_str();
  c.app->add_option("--format", args->format,
                    "docs (anvil JSONL documents), gsm8k (question/answer ####) or text (plain text, a blank line "
                    "between tasks: input for `anvil tokenizer train`)")
      ->check(CLI::IsMember({"docs", "gsm8k", "text"}))
      ->capture_default_str();
  c.app->add_flag("--unique", args->unique, "never repeat a question within the file");
  c.app->add_option("--out", args->out, "output file, written atomically; - = standard output")->required();
  const char* kTeacher = "Teacher (OpenAI-compatible endpoint, http:// only)";
  CLI::Option* url = c.app->add_option("--teacher-url", args->teacher_url,
                    "ask a teacher model for each task's worked solution: POST <url>/chat/completions "
                    "(e.g. http://127.0.0.1:8080/v1); only answers the verifier accepts are written, with "
                    "source \"teacher:<model>\"; needs --style cot")
      ->group(kTeacher);
  CLI::Option* model = c.app->add_option("--teacher-model", args->teacher_model, "model name sent in each request")
                           ->group(kTeacher);
  url->needs(model);
  model->needs(url);
  c.app->add_option("--teacher-api-key-env", args->teacher_api_key_env,
                    "name of the environment variable holding the API key (sent as a Bearer token); "
                    "the key itself is never taken on the command line")
      ->group(kTeacher);
  c.app->add_option("--teacher-prompt-file", args->teacher_prompt_file,
                    "prompt template file; {question} is replaced by the question (default: asks for "
                    "<think>…</think> then an \"Answer: X\" line)")
      ->group(kTeacher);
  c.app->add_option("--teacher-temperature", args->teacher_temperature, "sampling temperature")
      ->capture_default_str()->group(kTeacher);
  c.app->add_option("--teacher-max-tokens", args->teacher_max_tokens, "max_tokens per answer")
      ->capture_default_str()->group(kTeacher);
  c.app->add_option("--teacher-rps", args->teacher_rps, "rate limit in requests per second over all workers, "
                    "retries included (0 = none)")
      ->capture_default_str()->group(kTeacher);
  c.app->add_option("--teacher-concurrency", args->teacher_concurrency, "requests in flight at once")
      ->check(CLI::Range(1, 256))->capture_default_str()->group(kTeacher);
  c.app->add_option("--teacher-retries", args->teacher_retries,
                    "retries per task on connect errors, timeouts, 429, 5xx and unparsable replies "
                    "(exponential backoff with jitter, Retry-After honoured)")
      ->check(CLI::Range(0, 100))->capture_default_str()->group(kTeacher);
  c.app->add_option("--teacher-timeout", args->teacher_timeout, "seconds per request (connect and read)")
      ->capture_default_str()->group(kTeacher);
  c.app->add_option("--report", args->report,
                    "teacher mode: write the summary (kept, rejected by reason, requests, retries by cause) as JSON")
      ->group(kTeacher);
  c.run = [args] {
    if (!args->teacher_url.empty() && args->style != "cot") {
      std::fprintf(stderr, "anvil synth: --teacher-url needs --style cot (the teacher writes <think>)\n"
                           "Run with --help for more information.\n");
      return 2;
    }
    const Status s = run_synth(*args);
    if (s.ok()) return 0;
    return report_failure("synth", s);
  };
  return c;
}

}  // namespace anvil::cli
