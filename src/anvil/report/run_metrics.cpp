// metrics.jsonl reading and the run summary (run_metrics.h). Lines are parsed one at a time with
// exceptions off; bare NaN/Infinity tokens outside strings are rewritten to null before parsing.
#include "anvil/report/run_metrics.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "anvil/base/file.h"

namespace anvil::report {
namespace {

using nlohmann::json;

// Rewrites NaN, Infinity, -Infinity (outside strings) to null, as Python's json.dumps writes them.
std::string nan_tokens_to_null(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  bool in_string = false;
  size_t i = 0;
  while (i < line.size()) {
    const char ch = line[i];
    if (in_string) {
      out += ch;
      if (ch == '\\' && i + 1 < line.size()) out += line[++i];
      else if (ch == '"') in_string = false;
      ++i;
      continue;
    }
    if (ch == '"') in_string = true;
    bool replaced = false;
    for (std::string_view tok : {"-Infinity", "Infinity", "NaN"}) {
      if (line.substr(i, tok.size()) == tok) {
        out += "null";
        i += tok.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += line[i++];
  }
  return out;
}

void note_skip(std::map<std::string, SkippedValues>& m, const std::string& key, int64_t step) {
  SkippedValues& s = m[key];
  if (s.count++ == 0) s.first_step = step;
}

// The finite number at j[field], or NaN (counted when present but not a finite number).
double number_field(const json& j, const char* kind, const char* field, int64_t step, RunMetrics& m) {
  auto it = j.find(field);
  if (it == j.end()) return kMissing;
  const std::string key = fmt::format("{}.{}", kind, field);
  if (it->is_null()) {
    note_skip(m.non_finite, key, step);
    return kMissing;
  }
  if (!it->is_number()) {
    note_skip(m.wrong_type, key, step);
    return kMissing;
  }
  const double v = it->get<double>();
  if (!std::isfinite(v)) {
    note_skip(m.non_finite, key, step);
    return kMissing;
  }
  return v;
}

template <typename Row>
int64_t sort_keep_last(std::vector<Row>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.step < b.step; });
  std::vector<Row> kept;
  kept.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 < rows.size() && rows[i + 1].step == rows[i].step) continue;
    kept.push_back(rows[i]);
  }
  const int64_t n_replaced = static_cast<int64_t>(rows.size() - kept.size());
  rows = std::move(kept);
  return n_replaced;
}

std::string line_list(const std::vector<int64_t>& lines) {
  constexpr size_t kShown = 5;
  std::string s;
  for (size_t i = 0; i < std::min(lines.size(), kShown); ++i) s += (i ? ", " : "") + std::to_string(lines[i]);
  if (lines.size() > kShown) s += fmt::format(", … ({} more)", lines.size() - kShown);
  return s;
}

}  // namespace

RunMetrics parse_metrics(std::string_view text) {
  RunMetrics m;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    ++m.n_lines;
    m.last_line = line_no;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) j = json::parse(nan_tokens_to_null(line), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      m.bad_json_lines.push_back(line_no);
      continue;
    }
    auto st = j.find("step");
    if (st == j.end() || !st->is_number() || (!st->is_number_integer() && st->get<double>() != std::floor(st->get<double>()))) {
      m.no_step_lines.push_back(line_no);
      continue;
    }
    const int64_t step = st->is_number_integer() ? st->get<int64_t>() : static_cast<int64_t>(st->get<double>());
    auto k = j.find("kind");
    const std::string kind = (k != j.end() && k->is_string()) ? k->get<std::string>() : std::string("(none)");
    if (kind == "train") {
      TrainRow r{.step = step};
      r.loss = number_field(j, "train", "loss", step, m);
      r.lr = number_field(j, "train", "lr", step, m);
      r.grad_norm = number_field(j, "train", "grad_norm", step, m);
      r.tokens = number_field(j, "train", "tokens", step, m);
      r.tokens_per_s = number_field(j, "train", "tokens_per_s", step, m);
      r.mfu = number_field(j, "train", "mfu", step, m);
      r.step_s = number_field(j, "train", "step_s", step, m);
      r.rss_mib = number_field(j, "train", "rss_mib", step, m);
      r.peak_rss_mib = number_field(j, "train", "peak_rss_mib", step, m);
      m.train.push_back(r);
    } else if (kind == "val") {
      ValRow r{.step = step};
      r.val_loss = number_field(j, "val", "val_loss", step, m);
      r.val_tokens = number_field(j, "val", "val_tokens", step, m);
      m.val.push_back(r);
    } else if (kind == "event") {
      EventRow e{.step = step};
      auto ev = j.find("event");
      e.event = (ev != j.end() && ev->is_string()) ? ev->get<std::string>() : "(unnamed)";
      auto msg = j.find("message");
      if (msg != j.end()) e.message = msg->is_string() ? msg->get<std::string>() : msg->dump();
      m.events.push_back(std::move(e));
    } else {
      ++m.unknown_kinds[kind];
    }
  }
  m.n_replaced_steps = sort_keep_last(m.train) + sort_keep_last(m.val);
  return m;
}

Result<RunMetrics> read_metrics(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found("[report.metrics] '{}' does not exist", path);
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_metrics(text);
}

std::vector<std::string> RunMetrics::notes() const {
  std::vector<std::string> out;
  if (!bad_json_lines.empty()) {
    out.push_back(fmt::format("{} line{} of metrics.jsonl {} not a JSON object and {} skipped (line {}){}",
                              bad_json_lines.size(), bad_json_lines.size() == 1 ? "" : "s",
                              bad_json_lines.size() == 1 ? "is" : "are", bad_json_lines.size() == 1 ? "was" : "were",
                              line_list(bad_json_lines),
                              bad_json_lines.size() == 1 && bad_json_lines.back() == last_line
                                  ? " — the torn last line of a live or killed run"
                                  : ""));
  }
  if (!no_step_lines.empty()) {
    out.push_back(fmt::format("{} line(s) of metrics.jsonl have no integer \"step\" and were skipped (line {})",
                              no_step_lines.size(), line_list(no_step_lines)));
  }
  for (const auto& [kind, n] : unknown_kinds) {
    out.push_back(fmt::format("{} line(s) with kind \"{}\" were skipped (expected train, val or event)", n, kind));
  }
  for (const auto& [field, s] : non_finite) {
    out.push_back(fmt::format("{}: {} NaN/inf value(s) skipped in the charts and summary, first at step {}", field,
                              s.count, s.first_step));
  }
  for (const auto& [field, s] : wrong_type) {
    out.push_back(fmt::format("{}: {} value(s) that are not numbers skipped, first at step {}", field, s.count,
                              s.first_step));
  }
  if (n_replaced_steps > 0) {
    out.push_back(fmt::format("{} train/val line(s) repeat an earlier step; the later line is shown", n_replaced_steps));
  }
  return out;
}

RunSummary summarize(const RunMetrics& m) {
  RunSummary s;
  s.n_train = static_cast<int64_t>(m.train.size());
  s.n_val = static_cast<int64_t>(m.val.size());
  s.n_events = static_cast<int64_t>(m.events.size());
  for (const EventRow& e : m.events) s.n_warnings += e.event == "warning";

  double sum_tps = 0, sum_mfu = 0;
  int64_t n_tps = 0, n_mfu = 0;
  int64_t prev_step = -1;
  for (const TrainRow& r : m.train) {
    if (std::isfinite(r.loss)) {
      s.final_loss = r.loss;
      s.final_loss_step = r.step;
    }
    if (std::isfinite(r.tokens)) s.tokens_seen = std::isfinite(s.tokens_seen) ? std::max(s.tokens_seen, r.tokens) : r.tokens;
    if (std::isfinite(r.tokens_per_s)) sum_tps += r.tokens_per_s, ++n_tps;
    if (std::isfinite(r.mfu)) sum_mfu += r.mfu, ++n_mfu;
    for (double v : {r.peak_rss_mib, r.rss_mib}) {
      if (std::isfinite(v)) s.peak_rss_mib = std::isfinite(s.peak_rss_mib) ? std::max(s.peak_rss_mib, v) : v;
    }
    if (std::isfinite(r.step_s)) {
      const int64_t n_steps = prev_step < 0 ? std::max<int64_t>(1, r.step) : std::max<int64_t>(1, r.step - prev_step);
      s.train_seconds = (std::isfinite(s.train_seconds) ? s.train_seconds : 0.0) + r.step_s * static_cast<double>(n_steps);
    }
    prev_step = r.step;
  }
  if (n_tps > 0) s.mean_tokens_per_s = sum_tps / static_cast<double>(n_tps);
  if (n_mfu > 0) s.mean_mfu = sum_mfu / static_cast<double>(n_mfu);
  for (const ValRow& v : m.val) {
    if (!std::isfinite(v.val_loss)) continue;
    s.final_val_loss = v.val_loss;
    s.final_val_step = v.step;
    if (!std::isfinite(s.best_val_loss) || v.val_loss < s.best_val_loss) {
      s.best_val_loss = v.val_loss;
      s.best_val_step = v.step;
    }
  }
  if (!m.train.empty()) {
    s.last_step = m.train.back().step;
  } else {
    for (const ValRow& v : m.val) s.last_step = std::max(s.last_step, v.step);
    for (const EventRow& e : m.events) s.last_step = std::max(s.last_step, e.step);
  }
  return s;
}

}  // namespace anvil::report
