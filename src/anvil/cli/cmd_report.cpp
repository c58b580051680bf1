// `anvil report RUN_DIR [--out FILE]`: renders a training run (metrics.jsonl, run.toml,
// checkpoints/latest.json) as one self-contained HTML dashboard, RUN_DIR/report.html by default
// (report/run_report.h, docs/report.md). Safe on a live run: it only reads, and writes atomically.
#include <cstdio>
#include <memory>

#include "anvil/cli/command.h"
#include "anvil/report/html.h"
#include "anvil/report/run_report.h"

namespace anvil::cli {

Command register_report(CLI::App& app, const GlobalOptions&) {
  auto opts = std::make_shared<report::RunReportOptions>();
  Command c;
  c.app = app.add_subcommand(
      "report",
      "Write RUN_DIR/report.html: a self-contained dashboard of a training run (loss and val loss, learning\n"
      "rate, grad norm with its healthy band, tokens/s and MFU, RSS), a summary table, the events and the\n"
      "run config. No script, no network: open it in any browser, attach it, archive it. Reads\n"
      "RUN_DIR/metrics.jsonl (required), RUN_DIR/run.toml and RUN_DIR/checkpoints/latest.json (optional);\n"
      "unparseable lines and NaN/inf values are skipped and listed on the page. Works on a live run.");
  c.app->add_option("run_dir", opts->run_dir, "the run directory (holds metrics.jsonl)")->required();
  c.app->add_option("-o,--out", opts->out_path, "where to write the page (default: RUN_DIR/report.html)");
  c.run = [opts] {
    auto r = report::write_run_report(*opts);
    if (!r.ok()) return report_failure("report", r.status());
    const report::RunSummary& s = r->summary;
    std::printf("wrote %s: %lld train steps, %lld val, %lld events", r->path.c_str(), static_cast<long long>(s.n_train),
                static_cast<long long>(s.n_val), static_cast<long long>(s.n_events));
    if (std::isfinite(s.final_loss)) std::printf(", final loss %s", report::format_compact(s.final_loss).c_str());
    if (std::isfinite(s.best_val_loss))
      std::printf(", best val loss %s at step %lld", report::format_compact(s.best_val_loss).c_str(),
                  static_cast<long long>(s.best_val_step));
    std::printf("\n");
    for (const std::string& n : r->notes) std::fprintf(stderr, "anvil report: note: %s\n", n.c_str());
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
