// Eval reports: every result as JSON (eval_report.json, docs/eval.md §report), error analysis of
// multiple-choice items (accuracy by subject, by prompt-length bucket and by gold letter, the confusion
// of chosen vs gold letters, the N worst-scored items by gold margin), a plain-text summary table, a
// self-contained HTML page (inline CSS, no scripts, every text HTML-escaped) and the side-by-side
// comparison of two reports with deltas.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"
#include "anvil/eval/gen.h"
#include "anvil/eval/mc.h"
#include "anvil/eval/perplexity.h"
#include "anvil/eval/speed.h"

namespace anvil::eval {

inline constexpr int kReportVersion = 1;

nlohmann::json to_json(const PplResult& r);
// n_worst: how many worst items (with prompts) to keep.
nlohmann::json to_json(const McResult& r, int n_worst);
nlohmann::json to_json(const GenResult& r, int n_worst);
nlohmann::json to_json(const SpeedResult& r);

// The analysis block of a multiple-choice result: by_subject, by_length, by_letter, confusion, worst.
nlohmann::json mc_analysis(const McResult& r, int n_worst);
// Prompt-length bucket of a token count: "<64", "64-127", "128-255", …, doubling.
std::string length_bucket(int64_t n_tokens);

// One row per (task, metric): the headline numbers of a report.
struct SummaryRow {
  std::string task = {}, metric = {};
  double value = 0.0;
  int64_t n = 0;
};
std::vector<SummaryRow> summary_rows(const nlohmann::json& report);
std::string summary_table(const nlohmann::json& report);

// Text table of two reports side by side: every (task, metric) in either, B − A.
std::string compare_reports(const nlohmann::json& a, const nlohmann::json& b, const std::string& name_a,
                            const std::string& name_b);

std::string html_escape(std::string_view s);
std::string report_html(const nlohmann::json& report);

Result<nlohmann::json> load_report(const std::string& path);

}  // namespace anvil::eval
