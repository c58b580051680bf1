// The run dashboard page (run_report.h): loading RUN_DIR, building the charts from the metrics rows and
// assembling header table, notes, charts, events and config into one HTML document.
#include "anvil/report/run_report.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/report/html.h"

namespace anvil::report {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxEventsListed = 1000;   // the events list stops here (with a note)
constexpr size_t kMaxEventMarkers = 60;     // vertical markers on the loss chart
constexpr double kLogLossRatio = 3.0;       // loss chart goes log when max/min loss reaches this
constexpr int kMarginLeft = 72;   // px; the same for every chart so their step axes line up
constexpr int kMarginRight = 64;

constexpr const char* kBlue = "#1f77b4";
constexpr const char* kOrange = "#ff7f0e";
constexpr const char* kGreen = "#2ca02c";
constexpr const char* kRed = "#d62728";
constexpr const char* kPurple = "#9467bd";
constexpr const char* kBrown = "#8c564b";

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;color:#1a1a1a;
 background:#f4f5f7;margin:0;padding:24px 12px}
main{max-width:920px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px}
.sub{color:#666;font-size:13px;margin:0 0 16px;word-break:break-all}
table.summary{border-collapse:collapse;background:#fff;width:100%;font-size:14px;box-shadow:0 1px 2px #0001}
table.summary th{text-align:left;font-weight:500;color:#555;width:34%}
table.summary td,table.summary th{padding:6px 12px;border-bottom:1px solid #eee;vertical-align:top}
.notes{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 14px;margin:16px 0;font-size:13px}
.notes ul{margin:4px 0;padding-left:18px}
figure{margin:14px 0;background:#fff;box-shadow:0 1px 2px #0001;padding:4px}
figure svg{display:block;width:100%;height:auto;max-width:900px;margin:0 auto}
ul.events{list-style:none;padding:0;margin:0;background:#fff;font-size:13px;box-shadow:0 1px 2px #0001}
ul.events li{padding:5px 12px;border-bottom:1px solid #eee}
.ev-step{display:inline-block;min-width:86px;color:#666;font-variant-numeric:tabular-nums}
.ev-kind{display:inline-block;min-width:84px;font-weight:600}
.ev-warning .ev-kind{color:#b26b00} .ev-stop .ev-kind{color:#c62828} .ev-checkpoint .ev-kind{color:#1f5fa8}
.ev-start .ev-kind,.ev-resume .ev-kind{color:#2e7d32}
pre.config{background:#fff;padding:12px;overflow-x:auto;font-size:12.5px;box-shadow:0 1px 2px #0001}
.empty{color:#777;font-style:italic}
footer{color:#888;font-size:12px;margin-top:28px}
)";

std::vector<Point> column(const std::vector<TrainRow>& rows, double TrainRow::*field) {
  std::vector<Point> out;
  out.reserve(rows.size());
  for (const TrainRow& r : rows) out.push_back({static_cast<double>(r.step), r.*field});
  return out;
}

std::string cell(double v, int sig = 4) { return std::isfinite(v) ? format_compact(v, sig) : "—"; }

std::string mib(double v) {
  if (!std::isfinite(v)) return "—";
  return v >= 1024 ? fmt::format("{:.2f} GiB", v / 1024) : fmt::format("{:.0f} MiB", v);
}

std::string class_token(const std::string& s) {
  std::string o;
  for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return o;
}

}  // namespace

Result<RunData> load_run(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return not_found("[report] run dir '{}' does not exist or is not a directory", run_dir);
  RunData run{.run_dir = run_dir};
  const std::string metrics_path = (fs::path(run_dir) / "metrics.jsonl").string();
  auto m = read_metrics(metrics_path);
  if (!m.ok()) return m.status().with_context(fmt::format("[report] reading run dir '{}'", run_dir));
  run.metrics = std::move(m).value();

  const std::string toml_path = (fs::path(run_dir) / "run.toml").string();
  if (fs::is_regular_file(toml_path, ec)) {
    auto t = read_file(toml_path);
    if (t.ok()) run.config_toml = std::move(t).value();
    else run.file_notes.push_back(fmt::format("'{}' could not be read: {}", toml_path, t.status().message()));
  } else {
    run.file_notes.push_back(fmt::format("'{}' not found: the run config is not shown", toml_path));
  }

  const std::string latest_path = (fs::path(run_dir) / "checkpoints" / "latest.json").string();
  if (fs::is_regular_file(latest_path, ec)) {
    auto t = read_file(latest_path);
    auto j = t.ok() ? nlohmann::json::parse(*t, nullptr, false) : nlohmann::json(nlohmann::json::value_t::discarded);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer()) {
      CheckpointInfo c{.step = j["step"].get<int64_t>()};
      if (j.contains("dir") && j["dir"].is_string()) c.dir = j["dir"].get<std::string>();
      run.latest_checkpoint = c;
    } else {
      run.file_notes.push_back(fmt::format("'{}' is not a JSON object with an integer \"step\"", latest_path));
    }
  }
  return run;
}

std::vector<LineChart> build_run_charts(const RunMetrics& m) {
  std::vector<LineChart> charts;

  // Loss: train + val, log y when the loss falls by kLogLossRatio or more; warnings/stops as markers.
  LineChart loss{.title = "Loss", .y = {.title = "loss"}};
  loss.series.push_back({.name = "train loss", .color = kBlue, .points = column(m.train, &TrainRow::loss)});
  std::vector<Point> val;
  for (const ValRow& v : m.val) val.push_back({static_cast<double>(v.step), v.val_loss});
  loss.series.push_back({.name = "val loss", .color = kOrange, .points = val, .markers = true});
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : loss.series) {
    for (const Point& p : s.points) {
      if (std::isfinite(p.y) && p.y > 0) lo = std::min(lo, p.y), hi = std::max(hi, p.y);
    }
  }
  if (lo < hi && hi / lo >= kLogLossRatio) loss.y.scale = AxisScale::kLog;
  for (const EventRow& e : m.events) {
    if (loss.markers.size() >= kMaxEventMarkers) break;
    if (e.event == "warning" || e.event == "stop" || e.event == "resume") {
      loss.markers.push_back({.x = static_cast<double>(e.step),
                              .label = e.event,
                              .detail = fmt::format("step {}: {} {}", e.step, e.event, e.message),
                              .color = e.event == "resume" ? kGreen : e.event == "stop" ? kRed : "#e0a000"});
    }
  }
  charts.push_back(std::move(loss));

  LineChart lr{.title = "Learning rate", .y = {.title = "lr", .include_zero = true}};
  lr.series.push_back({.name = "lr", .color = kGreen, .points = column(m.train, &TrainRow::lr)});
  charts.push_back(std::move(lr));

  LineChart gn{.title = "Gradient norm (before clipping)", .y = {.title = "grad norm", .scale = AxisScale::kLog}};
  gn.series.push_back({.name = "grad norm", .color = kPurple, .points = column(m.train, &TrainRow::grad_norm)});
  gn.bands.push_back({.lo = kHealthyGradNormLo,
                      .hi = kHealthyGradNormHi,
                      .label = fmt::format("healthy [{}, {}]", format_compact(kHealthyGradNormLo),
                                           format_compact(kHealthyGradNormHi)),
                      .color = kGreen});
  charts.push_back(std::move(gn));

  LineChart tp{.title = "Throughput",
               .y = {.title = "tokens/s", .include_zero = true},
               .y_right = {.title = "MFU", .include_zero = true}};
  tp.series.push_back({.name = "tokens/s", .color = kBlue, .points = column(m.train, &TrainRow::tokens_per_s)});
  tp.series.push_back({.name = "MFU", .color = kRed, .points = column(m.train, &TrainRow::mfu), .side = YAxisSide::kRight});
  charts.push_back(std::move(tp));

  LineChart mem{.title = "Memory", .y = {.title = "MiB", .include_zero = true}};
  mem.series.push_back({.name = "RSS", .color = kBrown, .points = column(m.train, &TrainRow::rss_mib)});
  mem.series.push_back({.name = "peak RSS",
                        .color = kRed,
                        .points = column(m.train, &TrainRow::peak_rss_mib),
                        .style = LineStyle::kDashed});
  charts.push_back(std::move(mem));
  for (LineChart& c : charts) {
    c.min_margin_left = kMarginLeft;
    c.min_margin_right = kMarginRight;
  }
  return charts;
}

std::string render_run_report(const RunData& run) {
  const RunMetrics& m = run.metrics;
  const RunSummary s = summarize(m);
  std::string h = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  h += fmt::format("<title>anvil run report — {}</title><style>{}</style></head><body><main>\n",
                   html_escape(fs::path(run.run_dir).lexically_normal().filename().string()), kCss);
  h += "<h1>Training run report</h1>";
  h += fmt::format("<p class=\"sub\">{}</p>\n", html_escape(run.run_dir));

  auto row = [&h](const std::string& k, const std::string& v) {
    h += fmt::format("<tr><th>{}</th><td>{}</td></tr>", html_escape(k), html_escape(v));
  };
  h += "<table class=\"summary\">";
  row("run dir", run.run_dir);
  row("steps done", s.last_step >= 0 ? fmt::format("{} ({} train lines, {} val, {} events)", s.last_step, s.n_train,
                                                   s.n_val, s.n_events)
                                     : "none yet");
  row("final loss", std::isfinite(s.final_loss) ? fmt::format("{} (step {})", cell(s.final_loss), s.final_loss_step) : "—");
  row("final val loss",
      std::isfinite(s.final_val_loss) ? fmt::format("{} (step {})", cell(s.final_val_loss), s.final_val_step) : "— (no val lines)");
  row("best val loss",
      std::isfinite(s.best_val_loss) ? fmt::format("{} (step {})", cell(s.best_val_loss), s.best_val_step) : "—");
  row("tokens seen", cell(s.tokens_seen));
  row("mean tokens/s", cell(s.mean_tokens_per_s));
  row("mean MFU", std::isfinite(s.mean_mfu) ? fmt::format("{} ({:.1f}%)", cell(s.mean_mfu, 3), 100 * s.mean_mfu) : "—");
  row("peak RSS", mib(s.peak_rss_mib));
  row("wall time (Σ step time)", format_duration(s.train_seconds));
  row("warnings", std::to_string(s.n_warnings));
  row("latest checkpoint", run.latest_checkpoint ? fmt::format("step {} ({})", run.latest_checkpoint->step,
                                                               run.latest_checkpoint->dir)
                                                 : "none");
  h += "</table>\n";

  std::vector<std::string> notes = run.file_notes;
  for (std::string& n : m.notes()) notes.push_back(std::move(n));
  if (m.train.empty()) notes.push_back("metrics.jsonl has no train lines yet: the charts are empty");
  if (m.events.size() > kMaxEventsListed)
    notes.push_back(fmt::format("{} events; the list shows the first {}", m.events.size(), kMaxEventsListed));
  if (!notes.empty()) {
    h += "<div class=\"notes\"><strong>Notes</strong><ul>";
    for (const std::string& n : notes) h += "<li>" + html_escape(n) + "</li>";
    h += "</ul></div>\n";
  }

  h += "<h2>Charts</h2>\n";
  for (const LineChart& c : build_run_charts(m)) h += "<figure>" + render_svg(c) + "</figure>\n";

  h += fmt::format("<h2>Events ({})</h2>\n", m.events.size());
  if (m.events.empty()) {
    h += "<p class=\"empty\">No events.</p>\n";
  } else {
    h += "<ul class=\"events\">";
    for (size_t i = 0; i < std::min(m.events.size(), kMaxEventsListed); ++i) {
      const EventRow& e = m.events[i];
      h += fmt::format("<li class=\"ev-{}\"><span class=\"ev-step\">step {}</span><span class=\"ev-kind\">{}</span> {}</li>",
                       class_token(e.event), e.step, html_escape(e.event), html_escape(e.message));
    }
    h += "</ul>\n";
  }

  h += "<h2>Run config (run.toml)</h2>\n";
  if (run.config_toml) h += "<pre class=\"config\">" + html_escape(*run.config_toml) + "</pre>\n";
  else h += "<p class=\"empty\">run.toml not found in the run dir.</p>\n";
  h += "<footer>Written by <code>anvil report</code> from metrics.jsonl (format: docs/formats/metrics.md). "
       "Charts keep each pixel column's first, lowest, highest and last point.</footer>\n";
  h += "</main></body></html>\n";
  return h;
}

Result<RunReportResult> write_run_report(const RunReportOptions& options) {
  ANVIL_ASSIGN_OR_RETURN(RunData run, load_run(options.run_dir));
  RunReportResult r;
  r.path = options.out_path.empty() ? (fs::path(options.run_dir) / "report.html").string() : options.out_path;
  r.summary = summarize(run.metrics);
  r.notes = run.file_notes;
  for (std::string& n : run.metrics.notes()) r.notes.push_back(std::move(n));
  const Status st = write_file_atomic(r.path, render_run_report(run));
  if (!st.ok()) return st.with_context("[report] writing the page");
  return r;
}

}  // namespace anvil::report
