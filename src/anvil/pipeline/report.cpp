// RUN_DIR/summary.json and RUN_DIR/report.html of `anvil run` (report.h). Everything shown comes from
// the steps' records and reports on disk, so the page can be rebuilt from a run folder alone; every
// text is HTML-escaped; missing pieces (a step not run yet) show as "—".
#include "anvil/pipeline/report.h"

#include <cmath>
#include <filesystem>

#include "anvil/base/file.h"
#include "anvil/pipeline/step_record.h"
#include "anvil/pipeline/steps_impl.h"
#include "anvil/report/html.h"
#include "anvil/report/run_report.h"

namespace anvil::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using report::format_compact;
using report::html_escape;

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;color:#1a1a1a;
 background:#f4f5f7;margin:0;padding:24px 12px}
main{max-width:960px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 10px} h3{font-size:15px;margin:18px 0 8px}
.sub{color:#666;font-size:13px;margin:0 0 16px;word-break:break-all}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px;box-shadow:0 1px 2px #0001;margin:6px 0}
th{text-align:left;font-weight:600;color:#444;background:#fafafa}
td,th{padding:5px 10px;border-bottom:1px solid #eee;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:36%;font-weight:500;background:#fff}
.big{font-size:20px;font-weight:600}
.ok{color:#2e7d32} .bad{color:#c62828} .muted{color:#777}
figure{margin:12px 0;background:#fff;box-shadow:0 1px 2px #0001;padding:4px}
figure svg{display:block;width:100%;height:auto;max-width:940px;margin:0 auto}
a{color:#1f5fa8} footer{color:#888;font-size:12px;margin-top:28px}
)";

json read_json(const fs::path& p) {
  auto text = read_file(p.string());
  if (!text.ok()) return nullptr;
  return json::parse(*text, nullptr, false);
}

// j[key], or null when j is not an object holding key (const json's operator[] must not miss).
const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string num(const json& v, int sig = 4) {
  if (v.is_number()) return format_compact(v.get<double>(), sig);
  return "—";
}

std::string pct(const json& v) { return v.is_number() ? fmt::format("{:.1f}%", 100 * v.get<double>()) : "—"; }

std::string link(const PipelineConfig& cfg, StepKind k, const std::string& file, const std::string& text) {
  const std::string href = step_dir_name(k) + "/" + file;
  if (!fs::exists(fs::path(cfg.run_dir) / href)) return html_escape(text) + " <span class=\"muted\">(missing)</span>";
  return fmt::format("<a href=\"{}\">{}</a>", html_escape(href), html_escape(text));
}

// The first synth: task's exact match / format rate in one style's rows.
json synth_metric(const json& rows, const std::string& metric) {
  if (!rows.is_array()) return nullptr;
  for (const json& r : rows) {
    if (r.value("task", "").rfind("synth:", 0) == 0 && r.value("metric", "") == metric) return r["value"];
  }
  return nullptr;
}

json task_metric(const json& rows, const std::string& prefix, const std::string& metric) {
  if (!rows.is_array()) return nullptr;
  for (const json& r : rows) {
    if (r.value("task", "").rfind(prefix, 0) == 0 && r.value("metric", "") == metric) return r["value"];
  }
  return nullptr;
}

void data_section(const PipelineConfig& cfg, const json& s, std::string& h) {
  h += "<h2>1. Data</h2>\n";
  const json prep = read_json(fs::path(step_dir(cfg.run_dir, StepKind::kPrep)) / "prep_report.json");
  if (!prep.is_object()) {
    h += "<p class=\"muted\">The prep step has no report yet.</p>\n";
    return;
  }
  const json& d = field(s, "data");
  h += fmt::format("<p>{} documents read, <span class=\"ok\">{} kept</span>, <span class=\"bad\">{} dropped</span>; "
                   "the mixed corpus holds {} documents ({} bytes). Full accounting: {}.</p>\n",
                   num(field(d, "docs_in")), num(field(d, "docs_kept")), num(field(d, "docs_dropped")), num(field(d, "output_docs")),
                   num(field(d, "output_bytes")), link(cfg, StepKind::kPrep, "prep_report.html", "prep report"));
  std::vector<std::string> reasons;
  const json dropped = d.value("dropped", json::object());
  for (const auto& [r, n] : dropped.items()) reasons.push_back(r);
  h += "<table><tr><th>source</th><th>read</th><th>kept</th>";
  for (const std::string& r : reasons) h += "<th>" + html_escape(r) + "</th>";
  h += "</tr>";
  const json sources = prep.value("sources", json::object());
  for (const auto& [src, v] : sources.items()) {
    h += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>", html_escape(src),
                     v.value("n_input", 0), v.value("n_kept", 0));
    for (const std::string& r : reasons) {
      const json dr = v.value("dropped", json::object());
      h += fmt::format("<td class=\"n\">{}</td>", dr.contains(r) ? dr[r].value("n", 0) : 0);
    }
    h += "</tr>";
  }
  h += "</table>\n";
  if (prep.contains("mixture") && prep["mixture"].contains("groups")) {
    h += "<h3>Mixture</h3><table><tr><th>group</th><th>target share</th><th>achieved share</th><th>copies per doc</th>"
         "<th>output bytes</th></tr>";
    for (const auto& [g, v] : prep["mixture"]["groups"].items()) {
      h += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                       "<td class=\"n\">{}</td></tr>",
                       html_escape(g), pct(field(v, "target_share")), pct(field(v, "achieved_share")), num(field(v, "rate"), 3),
                       num(field(v, "output_bytes")));
    }
    h += "</table>";
    if (!prep["mixture"].value("note", "").empty())
      h += "<p class=\"muted\">" + html_escape(prep["mixture"].value("note", "")) + "</p>";
  }
}

void tokenizer_section(const PipelineConfig& cfg, const json& s, std::string& h) {
  h += "<h2>2. Tokenizer and token shards</h2>\n<table class=\"kv\">";
  const json& t = field(s, "tokenizer");
  const json& k = field(s, "tokens");
  auto row = [&h](const std::string& a, const std::string& b) { h += "<tr><th>" + a + "</th><td>" + b + "</td></tr>"; };
  row("vocabulary", fmt::format("{} tokens ({} merges); special: {}", num(field(t, "vocab_size")), num(field(t, "n_merges")),
                                html_escape(t.value("specials", json::array()).dump())));
  row("text counted", fmt::format("{} bytes", num(field(t, "bytes_counted"))));
  row("train tokens", num(field(k, "train")));
  row("validation tokens", num(field(k, "val")));
  row("bytes per token", num(field(k, "bytes_per_token"), 3));
  row("files", link(cfg, StepKind::kTokenizer, "tokenizer.json", "tokenizer.json") + " · " +
                   link(cfg, StepKind::kTokenize, "tokenize_report.json", "tokenize_report.json"));
  h += "</table>\n";
}

void train_section(const PipelineConfig& cfg, const json& s, std::string& h) {
  h += "<h2>3. Training</h2>\n";
  const json& t = field(s, "train");
  h += fmt::format("<p>{} steps; loss {} → {}, validation loss {}; {} tokens/s, MFU {}. Full dashboard: {}.</p>\n",
                   num(field(t, "steps")), num(field(t, "first_loss")), num(field(t, "final_loss")), num(field(t, "final_val_loss")),
                   num(field(t, "tokens_per_s")), pct(field(t, "mfu")),
                   link(cfg, StepKind::kTrain, "report.html", "training report"));
  auto run = report::load_run(step_dir(cfg.run_dir, StepKind::kTrain));
  if (!run.ok()) {
    h += "<p class=\"muted\">" + html_escape(run.status().message()) + "</p>\n";
    return;
  }
  const std::vector<report::LineChart> charts = report::build_run_charts(run->metrics);
  // The loss and throughput charts: what a reader of the whole run needs; the dashboard has all five.
  for (size_t i = 0; i < charts.size(); ++i) {
    if (i == 0 || i == 3) h += "<figure>" + report::render_svg(charts[i]) + "</figure>\n";
  }
}

void eval_section(const PipelineConfig& cfg, const json& s, std::string& h) {
  h += "<h2>4. Evaluation</h2>\n";
  const json& e = field(s, "eval");
  if (!e.contains("styles")) {
    h += "<p class=\"muted\">The eval step has not run yet.</p>\n";
    return;
  }
  h += "<p>Held-out problems (questions never in the training data), greedy decoding, exact match of the final "
       "answer. The same model answers after thinking in <code>&lt;think&gt;</code> and directly.</p>\n";
  h += "<table><tr><th>style</th><th>exact match</th><th>well-formed answers</th><th>report</th></tr>";
  for (const auto& [style, rows] : field(e, "styles").items()) {
    h += fmt::format("<tr><td>{}</td><td class=\"n big\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                     style == "cot" ? "with &lt;think&gt; (cot)" : html_escape(style), pct(synth_metric(rows, "exact_match")),
                     pct(synth_metric(rows, "format_rate")),
                     link(cfg, StepKind::kEval, style + "/eval_report.html", style + "/eval_report.html"));
  }
  h += "</table>\n<h3>Every metric</h3><table><tr><th>style</th><th>task</th><th>metric</th><th>value</th><th>n</th></tr>";
  for (const auto& [style, rows] : field(e, "styles").items()) {
    for (const json& r : rows) {
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                       html_escape(style), html_escape(r.value("task", "")), html_escape(r.value("metric", "")),
                       num(r["value"]), r.value("n", 0));
    }
  }
  h += "</table>\n";
}

}  // namespace

Result<json> build_summary(const PipelineConfig& cfg) {
  json s = {{"run_dir", cfg.run_dir}, {"config", cfg.source}, {"written", utc_now_iso()}};
  s["steps"] = json::array();
  std::map<std::string, json> sums;
  for (int i = 0; i < kNumSteps; ++i) {
    const StepKind k = static_cast<StepKind>(i);
    if (k == StepKind::kReport) continue;
    auto rec = read_step_record((fs::path(step_dir(cfg.run_dir, k)) / "step.json").string());
    if (!rec.ok()) {
      s["steps"].push_back({{"step", step_name(k)}, {"status", "not run"}});
      continue;
    }
    s["steps"].push_back({{"step", step_name(k)}, {"status", step_status_name(rec->status)}, {"hash", rec->hash},
                          {"seconds", rec->seconds}, {"started", rec->started}, {"finished", rec->finished}});
    if (rec->status == StepStatus::kCompleted) sums[step_name(k)] = rec->summary;
  }
  const json prep = sums.count("prep") ? sums["prep"] : json::object();
  s["data"] = {{"docs_in", prep.value("docs_in", json())},       {"docs_kept", prep.value("docs_kept", json())},
               {"docs_dropped", prep.value("docs_dropped", json())}, {"dropped", prep.value("dropped", json::object())},
               {"output_docs", prep.value("output_docs", json())}, {"output_bytes", prep.value("output_bytes", json())}};
  s["tokenizer"] = sums.count("tokenizer") ? sums["tokenizer"] : json::object();
  const json tk = sums.count("tokenize") ? sums["tokenize"] : json::object();
  s["tokens"] = {{"train", tk.value("train_tokens", json())}, {"val", tk.value("val_tokens", json())},
                 {"bytes_per_token", tk.value("bytes_per_token", json())}};
  s["train"] = sums.count("train") ? sums["train"] : json::object();
  json ev = json::object();
  if (sums.count("eval")) {
    const json& e = sums["eval"];
    ev["styles"] = e.value("styles", json::object());
    ev["held_out"] = json::object();
    for (const auto& [style, rows] : ev["styles"].items()) {
      ev["held_out"][style] = {{"exact_match", synth_metric(rows, "exact_match")},
                               {"format_rate", synth_metric(rows, "format_rate")}};
      if (ev["held_out"][style]["exact_match"].is_null()) ev["held_out"].erase(style);
    }
    for (const auto& [style, rows] : ev["styles"].items()) {
      const json ppl = task_metric(rows, "ppl", "ppl");
      if (!ppl.is_null()) ev["val_ppl"] = ppl;
    }
    if (e.contains("speed")) ev["decode_tokens_per_s"] = e["speed"].value("tokens_per_s", json());
    ev["model_dir"] = e.value("model_dir", "");
  }
  s["eval"] = ev;
  return s;
}

std::string render_pipeline_report(const PipelineConfig& cfg, const json& s) {
  std::string h = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  h += fmt::format("<title>anvil run — {}</title><style>{}</style></head><body><main>\n",
                   html_escape(fs::path(cfg.run_dir).lexically_normal().filename().string()), kCss);
  h += "<h1>anvil run report</h1>";
  h += fmt::format("<p class=\"sub\">run dir {} · config {} · written {}</p>\n", html_escape(cfg.run_dir),
                   html_escape(cfg.source), html_escape(s.value("written", "")));
  h += "<h2>Summary</h2><pre>" + html_escape(summary_table(s)) + "</pre>\n";
  h += "<h2>Steps</h2><table><tr><th>#</th><th>step</th><th>status</th><th>seconds</th><th>hash</th><th>finished</th></tr>";
  int i = 0;
  for (const json& st : s["steps"]) {
    const std::string status = st.value("status", "");
    h += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td>"
                     "<td>{}</td></tr>",
                     ++i, html_escape(st.value("step", "")), status == "completed" ? "ok" : "bad", html_escape(status),
                     num(st.value("seconds", json()), 3), html_escape(st.value("hash", "")),
                     html_escape(st.value("finished", "")));
  }
  h += "</table>\n";
  data_section(cfg, s, h);
  tokenizer_section(cfg, s, h);
  train_section(cfg, s, h);
  eval_section(cfg, s, h);
  h += "<footer>Written by <code>anvil run</code>. Every number comes from the step folders' step.json and reports; "
       "a step whose settings and inputs are unchanged is reused on the next run.</footer>\n</main></body></html>\n";
  return h;
}

std::string summary_table(const json& s) {
  std::string t;
  auto row = [&t](const std::string& k, const std::string& v) { t += fmt::format("  {:<34} {}\n", k, v); };
  const json& d = s.value("data", json::object());
  row("documents read / kept / dropped", fmt::format("{} / {} / {}", num(d.value("docs_in", json())),
                                                     num(d.value("docs_kept", json())), num(d.value("docs_dropped", json()))));
  std::string reasons;
  const json dropped = d.value("dropped", json::object());
  for (const auto& [r, n] : dropped.items())
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", r, num(n));
  if (!reasons.empty()) row("  dropped by reason", reasons);
  const json& k = s.value("tokens", json::object());
  row("tokens train / val", fmt::format("{} / {}", num(k.value("train", json())), num(k.value("val", json()))));
  const json& tr = s.value("train", json::object());
  row("final train loss / val loss", fmt::format("{} / {}", num(tr.value("final_loss", json())),
                                                 num(tr.value("final_val_loss", json()))));
  const json& ev = s.value("eval", json::object());
  const json held_out = ev.value("held_out", json::object());
  for (const auto& [style, v] : held_out.items()) {
    row(style == "cot" ? "held-out exact match, <think>" : "held-out exact match, " + style,
        pct(v.value("exact_match", json())));
  }
  row("train tokens/s / MFU", fmt::format("{} / {}", num(tr.value("tokens_per_s", json())), pct(tr.value("mfu", json()))));
  return t;
}

Result<json> load_summary(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "summary.json").string();
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument("[run.report] '{}' is not JSON", path);
  return j;
}

Result<StepOutput> run_report_step(const StepContext& sc, const std::string& dir) {
  ANVIL_ASSIGN_OR_RETURN(json s, build_summary(sc.cfg));
  const fs::path root(sc.cfg.run_dir);
  ANVIL_RETURN_IF_ERROR(write_file_atomic((root / "summary.json").string(), s.dump(2) + "\n"));
  ANVIL_RETURN_IF_ERROR(write_file_atomic((root / "report.html").string(), render_pipeline_report(sc.cfg, s)));
  StepOutput out;
  out.outputs = {"../report.html", "../summary.json"};
  out.summary = {{"report", (root / "report.html").string()}, {"summary", (root / "summary.json").string()}};
  return out;
}

}  // namespace anvil::pipeline
