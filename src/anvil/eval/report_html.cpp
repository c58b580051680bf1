// The self-contained HTML eval report (report.h): inline CSS, no scripts or network, all text escaped.
#include <string>

#include "anvil/eval/report.h"

namespace anvil::eval {
namespace {

using nlohmann::json;

constexpr const char* kCss =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}td.diag{background:#dff0d8}"
    "pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;max-height:20em;overflow:auto;font-size:.85em}"
    ".muted{color:#777}";

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return html_escape(v.get<std::string>());
  if (v.is_number_float()) return fmt::format("{:.4f}", v.get<double>());
  return html_escape(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

// A table of an array of objects, with the given columns (first column left-aligned).
std::string table(const json& rows, const std::vector<std::string>& cols) {
  std::string h = "<table><tr>";
  for (size_t i = 0; i < cols.size(); ++i) h += (i == 0 ? "<th class=l>" : "<th>") + html_escape(cols[i]) + "</th>";
  h += "</tr>\n";
  for (const json& r : rows) {
    h += "<tr>";
    for (size_t i = 0; i < cols.size(); ++i) {
      h += (i == 0 ? "<td class=l>" : "<td>") + (r.contains(cols[i]) ? text(r[cols[i]]) : std::string("-")) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string confusion_table(const json& c) {
  const json& labels = c["labels"];
  std::string h = "<table><tr><th class=l>gold \\ chosen</th>";
  for (const json& l : labels) h += "<th>" + text(l) + "</th>";
  h += "</tr>\n";
  const json& m = c["rows_gold_cols_chosen"];
  for (size_t g = 0; g < m.size(); ++g) {
    h += "<tr><th class=l>" + text(labels[g]) + "</th>";
    for (size_t k = 0; k < m[g].size(); ++k) {
      h += std::string(g == k ? "<td class=diag>" : "<td>") + text(m[g][k]) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string mc_section(const json& t) {
  const json& a = t["analysis"];
  std::string h = "<h3>Per subject</h3>" + table(a["by_subject"], {"name", "n", "acc", "acc_norm", "acc_text"});
  h += "<h3>By prompt length (tokens)</h3>" + table(a["by_length"], {"bucket", "n", "acc"});
  h += "<h3>By gold letter</h3>" + table(a["by_letter"], {"letter", "n", "acc", "times_chosen"});
  h += "<h3>Confusion (rows: gold, columns: chosen)</h3>" + confusion_table(a["confusion"]);
  h += "<h3>Worst-scored items (smallest gold margin)</h3>\n";
  for (const json& w : a["worst"]) {
    h += fmt::format("<p><b>{}</b> #{} — gold {}, chosen {}, margin {}, {} prompt tokens{}</p><pre>{}</pre>\n",
                     text(w["subject"]), text(w["id"]), text(w["gold"]), text(w["chosen"]), text(w["margin"]),
                     text(w["n_prompt_tokens"]), w.value("truncated", false) ? " (truncated)" : "", text(w["prompt"]));
  }
  return h;
}

std::string gen_section(const json& t) {
  std::string h = "<h3>Failures</h3>\n";
  for (const json& w : t["worst"]) {
    h += fmt::format("<p>#{} — gold <b>{}</b>, extracted <b>{}</b></p><pre>{}</pre><p class=muted>completion:</p><pre>{}</pre>\n",
                     text(w["id"]), text(w["gold"]), text(w["extracted"]), text(w["prompt"]), text(w["completion"]));
  }
  return h;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string report_html(const json& report) {
  std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>anvil eval report</title><style>";
  h += kCss;
  h += "</style></head><body>\n<h1>anvil eval report</h1>\n";
  if (report.contains("model")) {
    h += "<p>model <b>" + text(report["model"].value("dir", json(""))) + "</b>, " +
         text(report["model"].value("n_params", json(0))) + " parameters; tokenizer " +
         text(report.value("tokenizer", json(""))) + "; " + text(report.value("created", json(""))) + "</p>\n";
  }
  h += "<h2>Summary</h2>\n<table><tr><th class=l>task</th><th class=l>metric</th><th>value</th><th>n</th></tr>\n";
  for (const SummaryRow& r : summary_rows(report)) {
    h += fmt::format("<tr><td class=l>{}</td><td class=l>{}</td><td>{:.4f}</td><td>{}</td></tr>\n", html_escape(r.task),
                     html_escape(r.metric), r.value, r.n);
  }
  h += "</table>\n";
  for (const json& t : report.value("tasks", json::array())) {
    h += "<h2>" + text(t.value("name", t.value("task", json("?")))) + "</h2>\n<p class=muted>source " +
         text(t.value("source", json(""))) + ", " + text(t.value("seconds", json(0.0))) + " s</p>\n";
    const std::string kind = t.value("kind", "");
    if (kind == "mc") h += mc_section(t);
    if (kind == "gen") h += gen_section(t);
    if (kind == "ppl") h += table(json::array({t["counts"]}), {"tokens", "docs", "unscored_tokens", "bytes", "words"});
  }
  if (report.contains("speed") && report["speed"].is_object()) {
    h += "<h2>Speed</h2>\n" + table(json::array({report["speed"]}),
                                    {"engine", "prompt_tokens", "new_tokens", "batch", "ttft_ms", "prefill_tokens_per_s",
                                     "ms_per_token", "tokens_per_s", "batch_tokens_per_s", "peak_rss_mib"});
  }
  return h + "</body></html>\n";
}

}  // namespace anvil::eval
