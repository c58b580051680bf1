// Report JSON, error analysis, summary table and comparison (report.h).
#include "anvil/eval/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "anvil/base/file.h"

namespace anvil::eval {
namespace {

using nlohmann::json;

constexpr const char* kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// JSON has no NaN/inf: such values become null.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json score_json(const McScore& s) {
  return {{"n", s.n}, {"acc", num(s.acc)}, {"acc_norm", num(s.acc_norm)}, {"acc_text", num(s.acc_text)}};
}

std::string letter(int i) { return i >= 0 && i < 26 ? std::string(1, kLetters[i]) : "-"; }

// Fixed 4 decimals, or scientific notation for huge values (an untrained model's word perplexity).
std::string fmt_number(double v) { return std::fabs(v) < 1e7 ? fmt::format("{:.4f}", v) : fmt::format("{:.4e}", v); }

std::string fmt_value(const json& v) {
  if (v.is_null()) return "-";
  return fmt_number(v.get<double>());
}

}  // namespace

std::string length_bucket(int64_t n_tokens) {
  if (n_tokens < 64) return "<64";
  int64_t lo = 64;
  while (n_tokens >= 2 * lo) lo *= 2;
  return fmt::format("{}-{}", lo, 2 * lo - 1);
}

json to_json(const PplResult& r) {
  return {{"kind", "ppl"},
          {"task", "ppl"},
          {"source", r.source},
          {"metrics",
           {{"ppl", num(r.ppl)}, {"bpb", num(r.bpb)}, {"byte_perplexity", num(r.byte_perplexity)},
            {"word_perplexity", r.n_words > 0 ? num(r.word_perplexity) : json(nullptr)},
            {"nll_per_token", num(r.n_tokens > 0 ? r.nll / static_cast<double>(r.n_tokens) : NAN)}}},
          {"n", r.n_tokens},
          {"counts",
           {{"docs", r.n_docs}, {"tokens", r.n_tokens}, {"unscored_tokens", r.n_unscored}, {"bytes", r.n_bytes},
            {"words", r.n_words}}},
          {"window", r.window},
          {"stride", r.stride},
          {"seconds", r.seconds}};
}

json mc_analysis(const McResult& r, int n_worst) {
  size_t n_choices = 0;
  for (const McItemResult& it : r.items) n_choices = std::max(n_choices, it.ll_letter.size());
  // By prompt length.
  std::map<int64_t, std::pair<int64_t, int64_t>> by_len;  // lower bound -> (n, correct)
  std::map<int64_t, std::string> names;
  for (const McItemResult& it : r.items) {
    int64_t lo = 0;
    if (it.n_prompt_tokens >= 64) {
      lo = 64;
      while (it.n_prompt_tokens >= 2 * lo) lo *= 2;
    }
    names[lo] = length_bucket(it.n_prompt_tokens);
    by_len[lo].first += 1;
    by_len[lo].second += it.chosen == it.gold;
  }
  json lengths = json::array();
  for (const auto& [lo, nc] : by_len) {
    lengths.push_back({{"bucket", names[lo]}, {"n", nc.first}, {"acc", static_cast<double>(nc.second) / nc.first}});
  }
  // By gold letter, and the confusion matrix (rows gold, columns chosen).
  std::vector<std::vector<int64_t>> confusion(n_choices, std::vector<int64_t>(n_choices, 0));
  for (const McItemResult& it : r.items) confusion[static_cast<size_t>(it.gold)][static_cast<size_t>(it.chosen)] += 1;
  json letters = json::array(), labels = json::array();
  for (size_t g = 0; g < n_choices; ++g) {
    const int64_t n = std::accumulate(confusion[g].begin(), confusion[g].end(), int64_t{0});
    int64_t chosen = 0;
    for (size_t k = 0; k < n_choices; ++k) chosen += confusion[k][g];
    letters.push_back({{"letter", letter(static_cast<int>(g))}, {"n", n},
                       {"acc", n > 0 ? json(static_cast<double>(confusion[g][g]) / n) : json(nullptr)},
                       {"times_chosen", chosen}});
    labels.push_back(letter(static_cast<int>(g)));
  }
  // Worst: smallest gold margin first.
  std::vector<size_t> order(r.items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.items[a].margin < r.items[b].margin; });
  json worst = json::array();
  for (size_t i = 0; i < order.size() && static_cast<int>(i) < n_worst; ++i) {
    const McItemResult& it = r.items[order[i]];
    worst.push_back({{"subject", it.subject}, {"id", it.id}, {"gold", letter(it.gold)}, {"chosen", letter(it.chosen)},
                     {"margin", num(it.margin)}, {"ll_letter", it.ll_letter}, {"n_prompt_tokens", it.n_prompt_tokens},
                     {"truncated", it.truncated}, {"prompt", it.prompt}});
  }
  json subjects = json::array();
  for (const McSubjectScore& s : r.subjects) {
    json j = score_json(s.score);
    j["name"] = s.name;
    subjects.push_back(j);
  }
  return {{"by_subject", subjects}, {"by_length", lengths}, {"by_letter", letters},
          {"confusion", {{"labels", labels}, {"rows_gold_cols_chosen", confusion}}}, {"worst", worst}};
}

json to_json(const McResult& r, int n_worst) {
  int64_t truncated = 0;
  for (const McItemResult& it : r.items) truncated += it.truncated;
  return {{"kind", "mc"},
          {"task", r.task},
          {"source", r.source},
          {"split", r.split},
          {"shots", r.shots},
          {"metrics", {{"acc", num(r.micro.acc)}, {"acc_norm", num(r.micro.acc_norm)}, {"acc_text", num(r.micro.acc_text)},
                       {"acc_macro", num(r.macro.acc)}, {"acc_norm_macro", num(r.macro.acc_norm)}}},
          {"n", r.micro.n},
          {"n_subjects", r.subjects.size()},
          {"n_requests", r.n_requests},
          {"n_truncated", truncated},
          {"analysis", mc_analysis(r, n_worst)},
          {"seconds", r.seconds}};
}

json to_json(const GenResult& r, int n_worst) {
  const bool synth = r.task.rfind("synth:", 0) == 0;
  json metrics = {{"exact_match", num(r.exact_match)},
                  {synth ? "format_rate" : "exact_match_flexible", num(r.exact_match_flexible)}};
  for (const auto& [k, v] : r.pass_at) metrics[fmt::format("pass@{}", k)] = num(v);
  json failures = json::array();
  for (const GenItemResult& it : r.items) {
    if (static_cast<int>(failures.size()) >= n_worst) break;
    if (it.samples.front().correct) continue;
    failures.push_back({{"id", it.id}, {"gold", it.gold}, {"extracted", it.samples.front().extracted},
                        {"completion", it.samples.front().completion}, {"prompt", it.prompt},
                        {"n_correct", it.n_correct}});
  }
  json j = {{"kind", "gen"},
          {"task", r.task},
          {"source", r.source},
          {"metrics", metrics},
          {"n", r.n},
          {"n_samples", r.n_samples},
          {"temperature", r.temperature},
          {"generated_tokens", r.n_generated_tokens},
          {"worst", failures},
          {"seconds", r.seconds}};
  if (!r.shots_from.empty()) j["shots_from"] = r.shots_from;
  return j;
}

json to_json(const SpeedResult& r) {
  return {{"engine", r.engine},
          {"prompt_tokens", r.prompt_tokens},
          {"new_tokens", r.new_tokens},
          {"batch", r.batch},
          {"ttft_ms", num(r.ttft_ms)},
          {"prefill_tokens_per_s", num(r.prefill_tokens_per_s)},
          {"ms_per_token", num(r.ms_per_token)},
          {"tokens_per_s", num(r.tokens_per_s)},
          {"batch_tokens_per_s", num(r.batch_tokens_per_s)},
          {"batch_prefill_tokens_per_s", num(r.batch_prefill_tokens_per_s)},
          {"peak_rss_mib", static_cast<double>(r.peak_rss_bytes) / (1 << 20)}};
}

std::vector<SummaryRow> summary_rows(const json& report) {
  std::vector<SummaryRow> rows;
  if (report.contains("tasks")) {
    for (const json& t : report["tasks"]) {
      const std::string name = t.value("name", t.value("task", "?"));
      const int64_t n = t.value("n", int64_t{0});
      for (const auto& [metric, v] : t["metrics"].items()) {
        if (v.is_number()) rows.push_back({name, metric, v.get<double>(), n});
      }
    }
  }
  if (report.contains("speed") && report["speed"].is_object()) {
    for (const auto& [metric, v] : report["speed"].items()) {
      if (v.is_number() && metric != "prompt_tokens" && metric != "new_tokens" && metric != "batch") {
        rows.push_back({"speed", metric, v.get<double>(), report["speed"].value("batch", int64_t{0})});
      }
    }
  }
  return rows;
}

std::string summary_table(const json& report) {
  const std::vector<SummaryRow> rows = summary_rows(report);
  size_t w = 20;
  for (const SummaryRow& r : rows) w = std::max(w, r.task.size());
  std::string out = fmt::format("{:<{}} {:<26} {:>12} {:>8}\n", "task", w, "metric", "value", "n");
  out += std::string(w + 49, '-') + "\n";
  for (const SummaryRow& r : rows) {
    out += fmt::format("{:<{}} {:<26} {:>12} {:>8}\n", r.task, w, r.metric, fmt_number(r.value), r.n);
  }
  return out;
}

std::string compare_reports(const json& a, const json& b, const std::string& name_a, const std::string& name_b) {
  std::map<std::pair<std::string, std::string>, std::pair<json, json>> table;
  std::vector<std::pair<std::string, std::string>> order;
  auto add = [&](const json& r, bool second) {
    for (const SummaryRow& row : summary_rows(r)) {
      const auto key = std::make_pair(row.task, row.metric);
      if (!table.count(key)) order.push_back(key);
      (second ? table[key].second : table[key].first) = row.value;
    }
  };
  add(a, false);
  add(b, true);
  size_t w = 20;
  for (const auto& key : order) w = std::max(w, key.first.size());
  std::string out = fmt::format("A: {}\nB: {}\n\n", name_a, name_b);
  out += fmt::format("{:<{}} {:<26} {:>14} {:>14} {:>12}\n", "task", w, "metric", "A", "B", "delta (B-A)");
  out += std::string(w + 70, '-') + "\n";
  for (const auto& key : order) {
    const auto& [va, vb] = table[key];
    const std::string delta = va.is_null() || vb.is_null() ? "-" : fmt::format("{:+.4f}", vb.get<double>() - va.get<double>());
    out += fmt::format("{:<{}} {:<26} {:>14} {:>14} {:>12}\n", key.first, w, key.second, fmt_value(va), fmt_value(vb), delta);
  }
  return out;
}

Result<json> load_report(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("[eval.compare] '{}' is not a JSON object", path);
  if (!j.contains("tasks") || !j["tasks"].is_array()) {
    return invalid_argument("[eval.compare] '{}' has no \"tasks\" array (not an eval_report.json?)", path);
  }
  return j;
}

}  // namespace anvil::eval
