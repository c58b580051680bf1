// The run's one page and its numbers: RUN_DIR/summary.json (the headline numbers of every step, from
// their step.json records) and RUN_DIR/report.html (self-contained: inline CSS and SVG, no script, no
// external fetch) that a person reads top to bottom — steps, data accounting (kept / dropped by
// reason), tokenizer, training curves (report/run_report.h charts), evaluation with <think> vs direct —
// and that links every step's own report.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"
#include "anvil/pipeline/config.h"

namespace anvil::pipeline {

// Reads the step records and reports under cfg.run_dir into the summary.json object.
Result<nlohmann::json> build_summary(const PipelineConfig& cfg);
std::string render_pipeline_report(const PipelineConfig& cfg, const nlohmann::json& summary);

// The short table `anvil run` ends with: docs kept/dropped, tokens, losses, held-out accuracy with
// <think> vs direct, tokens/s, MFU.
std::string summary_table(const nlohmann::json& summary);

Result<nlohmann::json> load_summary(const std::string& run_dir);

}  // namespace anvil::pipeline
