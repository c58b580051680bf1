// Generative tasks: GSM8K and the synthetic reasoning tasks, exact match and pass@k (gen.h, §9.3).
#include "anvil/eval/gen.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <numeric>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/base/progress.h"
#include "anvil/base/rng.h"
#include "anvil/base/sysinfo.h"
#include "anvil/data/verify.h"
#include "anvil/eval/mc_data.h"

namespace anvil::eval {
namespace {

constexpr const char* kInvalid = "[invalid]";
constexpr uint64_t kShotSeed = 1234;  // lm-eval's default few-shot seed

void summarise(GenResult& r, const GenOptions& opt) {
  r.n = static_cast<int64_t>(r.items.size());
  const double n = static_cast<double>(std::max<int64_t>(r.n, 1));
  for (const GenItemResult& it : r.items) {
    r.exact_match += it.samples.front().correct;
    r.exact_match_flexible += it.samples.front().correct_flexible;
  }
  r.exact_match /= n;
  r.exact_match_flexible /= n;
  for (int64_t k : opt.pass_k) {
    if (k < 1 || k > opt.n_samples) continue;
    double s = 0;
    for (const GenItemResult& it : r.items) s += pass_at_k(opt.n_samples, it.n_correct, k);
    r.pass_at.emplace_back(k, s / n);
  }
  r.n_samples = opt.n_samples;
  r.temperature = opt.params.temperature;
}

Status check_options(const GenOptions& opt) {
  if (opt.n_samples < 1) return invalid_argument("[eval.gen] n_samples {} must be >= 1", opt.n_samples);
  if (opt.n_samples > 1 && opt.params.temperature <= 0) {
    return invalid_argument("[eval.gen] {} samples per problem need a temperature > 0 (greedy repeats itself)",
                            opt.n_samples);
  }
  return ok_status();
}

// Completions handed to the engine per call: enough to keep a batch full, few enough for live progress.
constexpr size_t kRequestsPerCall = 64;

// Runs every (item, sample): prompt_of(i) gives the prompt, judge(i, completion) fills a sample. Samples
// of item i use seeds params.seed + i * n_samples + j, whatever the batching.
template <typename PromptOf, typename Judge>
Status generate_all(const CompleteBatchFn& complete, const GenOptions& opt, size_t n_items, const std::string& label,
                    PromptOf prompt_of, Judge judge, GenResult& r) {
  const auto n_samples = static_cast<size_t>(opt.n_samples);
  std::vector<CompletionRequest> requests;
  requests.reserve(n_items * n_samples);
  for (size_t i = 0; i < n_items; ++i) {
    r.items[i].prompt = prompt_of(i);
    for (size_t j = 0; j < n_samples; ++j) {
      GenParams p = opt.params;
      p.seed = opt.params.seed + i * n_samples + j;
      requests.push_back({.prompt = r.items[i].prompt, .params = std::move(p)});
    }
  }
  std::optional<Progress> progress;
  if (opt.progress) progress.emplace("gen " + label, requests.size(), "completions");
  for (size_t begin = 0; begin < requests.size(); begin += kRequestsPerCall) {
    const size_t end = std::min(requests.size(), begin + kRequestsPerCall);
    ANVIL_ASSIGN_OR_RETURN(std::vector<Completion> done,
                           complete(std::span<const CompletionRequest>(requests).subspan(begin, end - begin)));
    if (done.size() != end - begin) {
      return internal_error("[eval.gen] the engine returned {} completions for {} requests", done.size(), end - begin);
    }
    for (size_t k = begin; k < end; ++k) {
      Completion& c = done[k - begin];
      GenItemResult& item = r.items[k / n_samples];
      r.n_generated_tokens += c.n_tokens;
      GenSample s = judge(k / n_samples, c.text);
      s.completion = std::move(c.text);
      item.n_correct += s.correct;
      item.samples.push_back(std::move(s));
    }
    if (progress) progress->add(end - begin);
  }
  if (progress) progress->finish();
  return ok_status();
}

}  // namespace

CompleteBatchFn one_at_a_time(CompleteFn complete) {
  return [complete = std::move(complete)](std::span<const CompletionRequest> requests) -> Result<std::vector<Completion>> {
    std::vector<Completion> out;
    out.reserve(requests.size());
    for (const CompletionRequest& q : requests) {
      ANVIL_ASSIGN_OR_RETURN(Completion c, complete(q.prompt, q.params));
      out.push_back(std::move(c));
    }
    return out;
  };
}

std::string extract_strict(std::string_view text) {
  static const std::regex re("#### (-?[0-9.,]+)");
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(text.begin(), text.end(), m, re)) return m[1].str();
  return kInvalid;
}

std::string extract_flexible(std::string_view text) {
  static const std::regex re("(-?[$0-9.,]{2,})|(-?[0-9]+)");
  std::string last = kInvalid;
  for (std::regex_iterator<std::string_view::const_iterator> it(text.begin(), text.end(), re), end; it != end; ++it) {
    last = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
  }
  return last;
}

std::string extract_boxed(std::string_view text) {
  const size_t at = text.rfind("\\boxed{");
  if (at == std::string_view::npos) return kInvalid;
  int depth = 1;
  const size_t begin = at + 7;
  for (size_t i = begin; i < text.size(); ++i) {
    depth += text[i] == '{' ? 1 : (text[i] == '}' ? -1 : 0);
    if (depth == 0) return std::string(text.substr(begin, i - begin));
  }
  return kInvalid;
}

std::string normalize_answer(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ',' && c != '$') out += c;
  }
  if (const size_t p = out.rfind("#### "); p != std::string::npos) out.erase(0, p + 5);
  // Python "\.$": a '.' at the very end, or just before a final '\n'.
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  } else if (out.size() >= 2 && out.back() == '\n' && out[out.size() - 2] == '.') {
    out.erase(out.size() - 2, 1);
  }
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (n - c < k) return 1.0;
  double fail = 1.0;  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
  for (int64_t i = n - c + 1; i <= n; ++i) fail *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - fail;
}

Result<std::vector<GenItem>> load_gsm8k(const std::string& path) {
  std::vector<GenItem> items;
  ANVIL_RETURN_IF_ERROR(for_each_jsonl_line(path, [&](size_t line_no, std::string_view line) -> Status {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("question") || !j["question"].is_string() ||
        !j.contains("answer") || !j["answer"].is_string()) {
      return invalid_argument("[eval.gsm8k] '{}' line {}: expected {{\"question\": string, \"answer\": string}}", path,
                              line_no);
    }
    GenItem it{.question = j["question"].get<std::string>(), .target = j["answer"].get<std::string>(), .gold = {}};
    if (it.target.find("#### ") == std::string::npos) {
      return invalid_argument("[eval.gsm8k] '{}' line {}: answer has no '#### <number>' line", path, line_no);
    }
    it.gold = normalize_answer(it.target);
    items.push_back(std::move(it));
    return ok_status();
  }));
  if (items.empty()) return invalid_argument("[eval.gsm8k] '{}' holds no items", path);
  return items;
}

std::string gsm8k_prompt(const std::vector<GenItem>& pool, const GenItem& item, int shots, size_t skip) {
  std::vector<size_t> order(pool.size());
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(kShotSeed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::string prompt;
  int used = 0;
  for (size_t i : order) {
    if (used >= shots) break;
    if (i == skip) continue;
    prompt += "Question: " + pool[i].question + "\nAnswer: " + pool[i].target + "\n\n";
    ++used;
  }
  return prompt + "Question: " + item.question + "\nAnswer:";
}

Result<GenResult> run_gsm8k(const CompleteFn& complete, const std::string& path, const GenOptions& opt) {
  return run_gsm8k(one_at_a_time(complete), path, opt);
}

Result<GenResult> run_gsm8k(const CompleteBatchFn& complete, const std::string& path, const GenOptions& opt) {
  const double t0 = wall_seconds();
  ANVIL_RETURN_IF_ERROR(check_options(opt));
  ANVIL_ASSIGN_OR_RETURN(std::vector<GenItem> items, load_gsm8k(path));
  std::string pool_path = opt.shot_pool;
  if (pool_path.empty() && opt.shots > 0) {
    const std::filesystem::path train = std::filesystem::path(path).parent_path() / "train.jsonl";
    std::error_code ec;
    if (std::filesystem::is_regular_file(train, ec) && !std::filesystem::equivalent(train, path, ec)) {
      pool_path = train.string();
    }
  }
  std::vector<GenItem> pool_items;
  if (!pool_path.empty()) {
    ANVIL_ASSIGN_OR_RETURN(pool_items, load_gsm8k(pool_path));
  }
  const bool own_file = pool_path.empty();
  const std::vector<GenItem>& pool = own_file ? items : pool_items;
  const size_t n = opt.limit > 0 ? std::min<size_t>(items.size(), static_cast<size_t>(opt.limit)) : items.size();
  GenResult r{.task = "gsm8k", .source = path};
  r.shots_from = opt.shots == 0 ? "" : (own_file ? path + " (other items)" : pool_path);
  r.items.resize(n);
  for (size_t i = 0; i < n; ++i) {
    r.items[i].id = std::to_string(i + 1);
    r.items[i].gold = items[i].gold;
  }
  GenOptions o = opt;
  if (o.params.stop.empty()) o.params.stop = {"Question:", "</s>", "<|im_end|>"};
  ANVIL_RETURN_IF_ERROR(generate_all(
      complete, o, n, "gsm8k",
      [&](size_t i) { return gsm8k_prompt(pool, items[i], opt.shots, own_file ? i : SIZE_MAX); },
      [&](size_t i, const std::string& completion) {
        GenSample s;
        s.extracted = extract_strict(completion);
        s.correct = normalize_answer(s.extracted) == items[i].gold;
        s.correct_flexible = normalize_answer(extract_flexible(completion)) == items[i].gold;
        return s;
      },
      r));
  summarise(r, o);
  r.seconds = wall_seconds() - t0;
  return r;
}

Result<GenResult> run_synth(const CompleteFn& complete, const SynthTaskOptions& task, const GenOptions& opt) {
  return run_synth(one_at_a_time(complete), task, opt);
}

Result<GenResult> run_synth(const CompleteBatchFn& complete, const SynthTaskOptions& task, const GenOptions& opt) {
  const double t0 = wall_seconds();
  ANVIL_RETURN_IF_ERROR(check_options(opt));
  const data::SynthOptions so{.kind = task.kind, .difficulty = task.difficulty, .seed = task.seed,
                              .split = data::Split::kEval, .style = task.style, .unique = true};
  const int64_t n_items = opt.limit > 0 ? std::min(opt.limit, task.n) : task.n;
  ANVIL_ASSIGN_OR_RETURN(std::vector<data::Task> tasks, data::generate(so, static_cast<size_t>(n_items)));
  GenResult r{.task = std::string("synth:") + data::task_kind_name(task.kind),
              .source = fmt::format("built-in {} d{} seed {} ({})", data::task_kind_name(task.kind), task.difficulty,
                                    task.seed, data::style_name(task.style))};
  r.items.resize(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    r.items[i].id = std::to_string(i + 1);
    r.items[i].gold = tasks[i].answer;
  }
  GenOptions o = opt;
  if (o.params.stop.empty()) o.params.stop = {"Question:"};
  ANVIL_RETURN_IF_ERROR(generate_all(
      complete, o, tasks.size(), r.task, [&](size_t i) { return tasks[i].prompt; },
      [&](size_t i, const std::string& completion) {
        const data::Reward rw = data::verify(tasks[i], completion);
        GenSample s;
        s.extracted = data::extract_answer(completion, tasks[i].style).value_or(kInvalid);
        s.correct = rw.accuracy > 0.5;
        s.correct_flexible = rw.format > 0.5;
        return s;
      },
      r));
  summarise(r, o);
  r.seconds = wall_seconds() - t0;
  return r;
}

}  // namespace anvil::eval
