// A training run's metrics.jsonl (docs/formats/metrics.md) read into rows, and the numbers a report
// leads with. Reading never fails on content: a line that is not a JSON object (a torn last line),
// has no integer step or an unknown kind is skipped; a NaN/inf/null value (nlohmann writes NaN as
// null; Python writes bare NaN/Infinity) becomes NaN in its row. Every skip is counted for notes().
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::report {

inline constexpr double kMissing = NAN;  // a field absent, null or non-finite

struct TrainRow {
  int64_t step = 0;
  double loss = kMissing, lr = kMissing, grad_norm = kMissing, tokens = kMissing, tokens_per_s = kMissing,
         mfu = kMissing, step_s = kMissing, rss_mib = kMissing, peak_rss_mib = kMissing;
};

struct ValRow {
  int64_t step = 0;
  double val_loss = kMissing, val_tokens = kMissing;
};

struct EventRow {
  int64_t step = 0;
  std::string event;  // start | resume | checkpoint | warning | stop (others are kept as they are)
  std::string message;
};

struct SkippedValues {
  int64_t count = 0;
  int64_t first_step = 0;
};

struct RunMetrics {
  std::vector<TrainRow> train;  // sorted by step; a repeated step keeps its last line
  std::vector<ValRow> val;      // sorted by step; a repeated step keeps its last line
  std::vector<EventRow> events;  // in file order
  int64_t n_lines = 0;           // non-empty lines read
  int64_t last_line = 0;         // 1-based number of the last non-empty line
  std::vector<int64_t> bad_json_lines;   // 1-based: not a JSON object
  std::vector<int64_t> no_step_lines;    // 1-based: no integer "step"
  std::map<std::string, int64_t> unknown_kinds;
  std::map<std::string, SkippedValues> non_finite;  // "train.loss" -> NaN/inf/null values skipped
  std::map<std::string, SkippedValues> wrong_type;  // "train.lr" -> a string, bool, array or object
  int64_t n_replaced_steps = 0;  // train/val lines whose step appeared again later

  // One sentence per kind of skip above, naming the lines, fields and steps; empty when clean.
  std::vector<std::string> notes() const;
};

// Parses metrics.jsonl text (never fails; see the file comment).
RunMetrics parse_metrics(std::string_view text);

// Reads and parses a metrics.jsonl file; not_found / io_error name the file.
Result<RunMetrics> read_metrics(const std::string& path);

struct RunSummary {
  int64_t n_train = 0, n_val = 0, n_events = 0, n_warnings = 0;
  int64_t last_step = -1;  // the last train step, else the largest step of any line; -1 when none
  double final_loss = kMissing;      // last finite train loss
  int64_t final_loss_step = -1;
  double final_val_loss = kMissing;  // last finite val loss
  int64_t final_val_step = -1;
  double best_val_loss = kMissing;
  int64_t best_val_step = -1;
  double tokens_seen = kMissing;       // largest finite `tokens`
  double mean_tokens_per_s = kMissing;  // over train lines with a finite value
  double mean_mfu = kMissing;
  double peak_rss_mib = kMissing;      // max of peak_rss_mib and rss_mib
  double train_seconds = kMissing;     // Σ step_s × steps since the previous train line
};

RunSummary summarize(const RunMetrics& m);

}  // namespace anvil::report
