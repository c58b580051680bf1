// The report stage: merges stats.<i>.json (filter) and final.<i>.json (finalize) of every shard into
// prep_report.json and a self-contained prep_report.html (format: docs/formats/prep_report.md), and
// checks the accounting invariant input = kept + Σ dropped, in total and per source.
#include <filesystem>

#include "anvil/base/file.h"
#include "anvil/data/prep.h"
#include "anvil/data/prep_stats.h"

namespace anvil::data {
namespace {

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

Result<nlohmann::json> read_json(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string s, read_file(path));
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded()) return invalid_argument("[prep.report] '{}' is not valid JSON", path);
  return j;
}

}  // namespace

Result<nlohmann::json> write_prep_report(const PrepConfig& cfg) {
  const auto stats_files = list_stage_files(cfg.work_dir, "stats.", ".json");
  if (stats_files.empty()) return not_found("[prep.report] no stats.*.json in '{}'", cfg.work_dir);
  ShardStats all;
  for (const auto& p : stats_files) {
    ANVIL_ASSIGN_OR_RETURN(auto j, read_json(p));
    all.merge(ShardStats::from_json(j));
  }
  const auto final_files = list_stage_files(cfg.work_dir, "final.", ".json");
  StageCounter near;
  std::map<std::string, std::pair<uint64_t, uint64_t>> output;
  MixPlan plan;
  std::map<std::string, BalanceStats> balance;
  for (const auto& p : final_files) {
    ANVIL_ASSIGN_OR_RETURN(auto j, read_json(p));
    const FinalStats f = FinalStats::from_json(j);
    all.total.absorb_later_drops(f.total);
    for (const auto& [k, v] : f.sources) all.sources[k].absorb_later_drops(v);
    near.merge(f.near_dedup);
    for (const auto& [g, o] : f.output) output[g].first += o.first, output[g].second += o.second;
    plan = f.plan;
    for (const auto& [scope, b] : f.balance) {  // plans agree across shards; counts add up
      BalanceStats& all_b = balance[scope];
      all_b.field = b.field, all_b.unit = b.unit, all_b.note = b.note;
      for (const auto& [c, cs] : b.categories) {
        all_b.categories[c].plan = cs.plan;
        all_b.categories[c].merge_counts(cs);
      }
    }
  }
  nlohmann::json r;
  r["config"] = {{"inputs", cfg.inputs.size()}, {"output", cfg.output}, {"work_dir", cfg.work_dir}};
  r["n_shards"] = stats_files.size();
  r["finalized_shards"] = final_files.size();
  r["totals"] = all.total.to_json();
  r["balanced"] = all.total.balanced();
  for (const auto& [k, v] : all.sources) {
    r["sources"][k] = v.to_json();
    if (!v.balanced()) r["balanced"] = false;
  }
  r["stages"] = nlohmann::json::array();
  auto add_stage = [&](const std::string& name, const StageCounter& c) {
    nlohmann::json s = c.to_json();
    s["name"] = name;
    r["stages"].push_back(std::move(s));
  };
  for (const auto& [k, v] : all.stages) add_stage(k, v);
  if (cfg.near_dedup) add_stage("near_dedup", near);
  r["rules"] = all.rules;
  for (size_t i = 0; i < kNumPiiTypes; ++i) r["pii_found"][pii_type_name(static_cast<PiiType>(i))] = all.pii[i];
  r["languages"] = all.langs;
  r["n_utf8_repaired"] = all.n_utf8_repaired;
  r["exact_dedup"] = {{"docs", all.exact_dedup_docs},
                      {"memory_bytes", all.exact_dedup_bytes},
                      {"bytes_per_doc", all.exact_dedup_docs ? static_cast<double>(all.exact_dedup_bytes) /
                                                                   static_cast<double>(all.exact_dedup_docs)
                                                             : 0.0}};
  if (!all.perplexity.empty()) r["perplexity"] = all.perplexity;
  uint64_t out_bytes = 0, out_docs = 0;
  for (const auto& [g, o] : output) out_docs += o.first, out_bytes += o.second;
  r["output"] = {{"docs", out_docs}, {"bytes", out_bytes}};
  r["mixture"]["note"] = plan.note;
  for (const auto& [g, gp] : plan.groups) {
    const auto o = output.count(g) ? output.at(g) : std::pair<uint64_t, uint64_t>{0, 0};
    r["mixture"]["groups"][g] = {
        {"target_share", gp.target_share},
        {"achieved_share", out_bytes ? static_cast<double>(o.second) / static_cast<double>(out_bytes) : 0.0},
        {"input_bytes", gp.input_bytes},
        {"rate", gp.rate},
        {"output_docs", o.first},
        {"output_bytes", o.second}};
  }
  for (const auto& [scope, b] : balance) {
    const bool docs = b.unit == "docs";
    uint64_t out_total = 0;
    for (const auto& [c, cs] : b.categories) out_total += docs ? cs.output_docs : cs.output_bytes;
    nlohmann::json& bj = r["balance"][scope];
    bj = {{"field", b.field}, {"unit", b.unit}, {"note", b.note}, {"categories", nlohmann::json::object()}};
    for (const auto& [c, cs] : b.categories) {
      const uint64_t out = docs ? cs.output_docs : cs.output_bytes;
      bj["categories"][c] = {
          {"available_docs", cs.plan.input_docs},
          {"available_bytes", cs.plan.input_bytes},
          {"target_share", cs.plan.target_share},
          {"achieved_share", out_total ? static_cast<double>(out) / static_cast<double>(out_total) : 0.0},
          {"rate", cs.plan.rate},
          {"kept", cs.kept},
          {"repeats", cs.output_docs - cs.kept},
          {"dropped", {{"category_downsample", cs.dropped_balance}, {"mixing_downsample", cs.dropped_mixing}}},
          {"output_docs", cs.output_docs},
          {"output_bytes", cs.output_bytes}};
    }
  }
  ANVIL_RETURN_IF_ERROR(write_file_atomic(cfg.report, r.dump(1)));
  std::filesystem::path html = cfg.report;
  html.replace_extension(".html");
  ANVIL_RETURN_IF_ERROR(write_file_atomic(html.string(), prep_report_html(r)));
  if (!r["balanced"].get<bool>()) {
    return internal_error("[prep.report] accounting does not balance (input != kept + dropped); see '{}'", cfg.report);
  }
  return r;
}

std::string prep_report_html(const nlohmann::json& r) {
  std::string h =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>anvil prep report</title><style>"
      "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}"
      "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}"
      "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;font-size:85%}</style></head><body>"
      "<h1>anvil prep report</h1>";
  const auto& t = r["totals"];
  h += fmt::format("<p>{} input records ({} bytes) → {} kept ({} bytes); output {} documents, {} bytes. "
                   "Accounting balanced: <b>{}</b>.</p>",
                   t["n_input"].get<uint64_t>(), t["bytes_input"].get<uint64_t>(), t["n_kept"].get<uint64_t>(),
                   t["bytes_kept"].get<uint64_t>(), r["output"]["docs"].get<uint64_t>(),
                   r["output"]["bytes"].get<uint64_t>(), r["balanced"].get<bool>() ? "yes" : "NO");
  h += "<h2>Stages</h2><table><tr><th>stage</th><th>docs in</th><th>docs out</th><th>bytes in</th><th>bytes out</th>"
       "<th>seconds</th><th>MB/s</th></tr>";
  for (const auto& s : r["stages"]) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.1f}</td></tr>",
                     html_escape(s["name"].get<std::string>()), s["docs_in"].get<uint64_t>(),
                     s["docs_out"].get<uint64_t>(), s["bytes_in"].get<uint64_t>(), s["bytes_out"].get<uint64_t>(),
                     s["seconds"].get<double>(), s["mb_per_s"].get<double>());
  }
  h += "</table><h2>Sources</h2><table><tr><th>source</th><th>input</th><th>kept</th><th>dropped</th></tr>";
  if (r.contains("sources")) {
    for (const auto& [k, v] : r["sources"].items()) {
      uint64_t dropped = 0;
      for (const auto& [reason, d] : v["dropped"].items()) dropped += d["n"].get<uint64_t>();
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", html_escape(k),
                       v["n_input"].get<uint64_t>(), v["n_kept"].get<uint64_t>(), dropped);
    }
  }
  h += "</table><h2>Dropped, by reason</h2><table><tr><th>reason</th><th>records</th><th>bytes</th></tr>";
  for (const auto& [reason, d] : t["dropped"].items()) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", html_escape(reason), d["n"].get<uint64_t>(),
                     d["bytes"].get<uint64_t>());
  }
  h += "</table><h3>Rules</h3><table><tr><th>rule</th><th>records</th></tr>";
  for (const auto& [rule, n] : r["rules"].items()) {
    h += fmt::format("<tr><td>{}</td><td>{}</td></tr>", html_escape(rule), n.get<uint64_t>());
  }
  h += "</table><h3>Examples</h3>";
  for (const auto& [reason, d] : t["dropped"].items()) {
    h += "<h4>" + html_escape(reason) + "</h4>";
    for (const auto& e : d["examples"]) h += "<pre>" + html_escape(e.get<std::string>()) + "</pre>";
  }
  h += "<h2>Mixture</h2><table><tr><th>group</th><th>target</th><th>achieved</th><th>rate</th><th>output bytes</th></tr>";
  if (r["mixture"].contains("groups")) {
    for (const auto& [g, v] : r["mixture"]["groups"].items()) {
      h += fmt::format("<tr><td>{}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{}</td></tr>", html_escape(g),
                       v["target_share"].get<double>(), v["achieved_share"].get<double>(), v["rate"].get<double>(),
                       v["output_bytes"].get<uint64_t>());
    }
  }
  h += "</table><p>" + html_escape(r["mixture"].value("note", "")) + "</p>";
  if (r.contains("balance")) {
    h += "<h2>Category balance</h2>";
    for (const auto& [scope, b] : r["balance"].items()) {
      h += fmt::format("<h3>{} by <code>{}</code> (shares of {})</h3><table><tr><th>category</th><th>available docs"
                       "</th><th>target</th><th>achieved</th><th>rate</th><th>kept</th><th>repeats</th>"
                       "<th>dropped (balance)</th><th>dropped (mixing)</th><th>output docs</th></tr>",
                       html_escape(scope), html_escape(b["field"].get<std::string>()),
                       html_escape(b["unit"].get<std::string>()));
      for (const auto& [c, v] : b["categories"].items()) {
        h += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{}</td><td>{}</td>"
                         "<td>{}</td><td>{}</td><td>{}</td></tr>",
                         html_escape(c), v["available_docs"].get<uint64_t>(), v["target_share"].get<double>(),
                         v["achieved_share"].get<double>(), v["rate"].get<double>(), v["kept"].get<uint64_t>(),
                         v["repeats"].get<uint64_t>(), v["dropped"]["category_downsample"].get<uint64_t>(),
                         v["dropped"]["mixing_downsample"].get<uint64_t>(), v["output_docs"].get<uint64_t>());
      }
      h += "</table><p>" + html_escape(b.value("note", "")) + "</p>";
    }
  }
  h += "<h2>Other counts</h2><pre>" +
       html_escape(nlohmann::json{{"languages", r["languages"]}, {"pii_found", r["pii_found"]},
                                  {"n_utf8_repaired", r["n_utf8_repaired"]}, {"exact_dedup", r["exact_dedup"]},
                                  {"perplexity", r.value("perplexity", nlohmann::json::array())}}
                       .dump(1)) +
       "</pre></body></html>\n";
  return h;
}

}  // namespace anvil::data
