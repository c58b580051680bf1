// The training dashboard: RUN_DIR (metrics.jsonl, run.toml, checkpoints/latest.json) rendered as one
// self-contained report.html — inline CSS and SVG, no script, no network, no external font. Charts:
// loss (train + val), learning rate, grad norm (log, healthy band), throughput (tokens/s + MFU), memory.
// A missing metrics.jsonl is an error naming the file; anything else missing or malformed becomes a
// note on the page. Layout and fields: docs/report.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/report/run_metrics.h"
#include "anvil/report/svg_chart.h"

namespace anvil::report {

inline constexpr double kHealthyGradNormLo = 1e-3;  // grad norm band shaded as healthy
inline constexpr double kHealthyGradNormHi = 1e1;

struct CheckpointInfo {
  int64_t step = -1;
  std::string dir;
};

struct RunData {
  std::string run_dir;
  RunMetrics metrics;
  std::optional<std::string> config_toml;        // run.toml as written, if it exists
  std::optional<CheckpointInfo> latest_checkpoint;  // checkpoints/latest.json, if it exists and parses
  std::vector<std::string> file_notes;           // missing run.toml, unreadable latest.json, ...
};

// Reads a run directory. Errors: the directory or its metrics.jsonl does not exist or cannot be read.
Result<RunData> load_run(const std::string& run_dir);

// The five charts of a run, in page order: loss, lr, grad norm, throughput, memory.
std::vector<LineChart> build_run_charts(const RunMetrics& m);

// The whole page.
std::string render_run_report(const RunData& run);

struct RunReportOptions {
  std::string run_dir;
  std::string out_path;  // empty: RUN_DIR/report.html
};

struct RunReportResult {
  std::string path;  // the page written
  RunSummary summary;
  std::vector<std::string> notes;  // file and metrics notes shown on the page
};

// load_run + render_run_report, written atomically (a reader never sees half a page).
Result<RunReportResult> write_run_report(const RunReportOptions& options);

}  // namespace anvil::report
