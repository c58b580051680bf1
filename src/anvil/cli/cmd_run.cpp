// `anvil run CONFIG.toml`: the whole chain from one config (pipeline/runner.h) — synth → prep →
// tokenizer → tokenize → train → eval → report — reusing unchanged steps, with --from/--only/--dry-run/
// --force and --set overrides. Ctrl-C stops training after the current step with a checkpoint; the next
// `anvil run` resumes it. With [serve] enabled or --serve, the trained model is then served (as `anvil
// serve`) until Ctrl-C. Exit codes: 0 done, 1 a step failed (named), 2 usage or config error, 130 stopped.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "anvil/cli/command.h"
#include "anvil/cli/serve_model.h"
#include "anvil/pipeline/report.h"
#include "anvil/pipeline/runner.h"
#include "anvil/pipeline/steps.h"

namespace anvil::cli {
namespace {

std::atomic<bool> g_run_stop{false};

// The first Ctrl-C asks for a clean stop (training checkpoints after its current step; no new step
// starts); a second one ends the process at once.
void on_run_stop(int sig) {
  if (g_run_stop.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}


struct RunArgs {
  std::string config, from, only;
  std::vector<std::string> sets;
  bool dry_run = false, force = false, serve = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "anvil run: %s\nRun 'anvil run --help' for usage.\n", message.c_str());
  return 2;
}

int serve_trained(const pipeline::PipelineConfig& cfg, const std::string& model_dir, const GlobalOptions& g);

int run_cmd(const RunArgs& a, const GlobalOptions& g) {
  std::vector<pipeline::Override> overrides;
  for (const std::string& s : a.sets) {
    auto o = pipeline::parse_override(s);
    if (!o.ok()) return usage_error(o.status().message());
    overrides.push_back(*o);
  }
  pipeline::RunOptions opt;
  opt.force = a.force;
  opt.dry_run = a.dry_run;
  opt.stop = &g_run_stop;
  opt.log = stdout;
  if (!a.from.empty() || !a.only.empty()) {
    auto k = pipeline::parse_step_name(a.from.empty() ? a.only : a.from);
    if (!k.ok()) return usage_error(k.status().message());
    opt.selection = a.from.empty() ? pipeline::Selection::kOnly : pipeline::Selection::kFrom;
    opt.selected = *k;
  }
  auto cfg = pipeline::load_pipeline_config(a.config, overrides);
  if (!cfg.ok()) {
    std::fprintf(stderr, "anvil run: %s\n", cfg.status().to_string().c_str());
    return cfg.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (a.dry_run) {
    auto plan = pipeline::plan_run(*cfg, opt);
    if (!plan.ok()) return report_failure("run", plan.status());
    std::printf("plan for %s (run dir %s):\n%s", a.config.c_str(), cfg->run_dir.c_str(), pipeline::format_plan(*plan).c_str());
    if (a.serve || cfg->serve.enabled)
      std::printf("  then     serve    the trained model on http://%s:%ld until Ctrl-C\n", cfg->serve.host.c_str(),
                  cfg->serve.port);
    return 0;
  }
  Context ctx = make_cli_context(g);
  install_stop_handlers(on_run_stop);
  std::printf("anvil run %s -> %s\n", a.config.c_str(), cfg->run_dir.c_str());
  auto outcome = pipeline::run_pipeline(*cfg, opt, ctx);
  if (!outcome.ok()) {
    std::fflush(stdout);
    std::fprintf(stderr, "anvil run: %s\n", outcome.status().message().c_str());
    if (outcome.status().code() == StatusCode::kCancelled) return 130;
    return 1;
  }
  double total = 0;
  for (double s : outcome->seconds) total += s;
  auto summary = pipeline::load_summary(cfg->run_dir);
  if (summary.ok()) {
    std::printf("\n%s", pipeline::summary_table(*summary).c_str());
  } else if (opt.selection == pipeline::Selection::kAll) {
    return report_failure("run", summary.status());
  }
  std::printf("\nReport:   %s/report.html  (numbers: %s/summary.json)\n", cfg->run_dir.c_str(), cfg->run_dir.c_str());
  auto model = pipeline::trained_model_dir(*cfg);
  if (model.ok()) {
    std::printf("Model:    %s\n", model->c_str());
    std::printf("Try:      anvil generate --model %s --temperature 0 --prompt $'Question: What is 48 + 27 - 50?\\n'\n",
                model->c_str());
  }
  std::printf("Time:     %.1f s in this run (reused steps cost nothing)\n", total);
  if (!a.serve && !cfg->serve.enabled) return 0;
  if (!model.ok()) return report_failure("run", model.status().with_context("nothing to serve"));
  return serve_trained(*cfg, *model, g);
}

// The last act of `anvil run` when serving is on: `anvil serve` on the trained model with [serve]'s
// settings (the run directory's name is the model id unless serve.model_name says otherwise).
int serve_trained(const pipeline::PipelineConfig& cfg, const std::string& model_dir, const GlobalOptions& g) {
  ServeArgs s;
  s.model_dir = model_dir;
  s.model_name = cfg.serve.model_name.empty() ? std::filesystem::path(cfg.run_dir).filename().string()
                                              : cfg.serve.model_name;
  s.http.host = cfg.serve.host;
  s.http.port = static_cast<int>(cfg.serve.port);
  s.grpc_port = static_cast<int>(cfg.serve.grpc_port);
  s.sched.max_running = cfg.serve.max_running;
  std::printf("\n");
  std::fflush(stdout);
  return serve_model(g, s);
}

}  // namespace

Command register_run(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<RunArgs>();
  Command c;
  c.app = app.add_subcommand(
      "run",
      "Run the whole pipeline from one config: synth → prep → tokenizer → tokenize → train → eval → report.\n"
      "Each step works in RUN_DIR/<nn>-<step>/ and records step.json (content hashes of its settings, its\n"
      "input files and its upstream step; outputs; status; times). A step whose hash matches a completed\n"
      "record is reused; a changed setting reruns that step and every later one. An interrupted training\n"
      "step resumes from its latest checkpoint. Ends with RUN_DIR/report.html, RUN_DIR/summary.json and a\n"
      "summary table. Steps: synth, prep, tokenizer, tokenize, train, eval, report; then, with --serve or\n"
      "[serve] enabled = true, the trained model is served over HTTP until Ctrl-C.\n"
      "Config reference: examples/quickstart.toml (small) and examples/domain_model.toml (larger).");
  c.app->add_option("config", a->config, "run config (TOML)")->required()->check(CLI::ExistingFile);
  auto* from = c.app->add_option("--from", a->from, "rerun this step and every later one (earlier ones must be done)");
  auto* only = c.app->add_option("--only", a->only, "run just this step (its upstream steps must be done)");
  from->excludes(only);
  c.app->add_flag("--dry-run", a->dry_run, "print the plan (each step: reuse | run | resume, and why) and stop");
  c.app->add_flag("--force", a->force, "rerun every step");
  c.app->add_flag("--serve", a->serve, "then serve the trained model (OpenAI-compatible HTTP, as `anvil serve`) "
                                       "until Ctrl-C; host, port and more in the config's [serve] table");
  c.app->add_option("--set", a->sets, "override a config value: KEY.PATH=VALUE, e.g. train.schedule.steps=100 or "
                                      "synth[0].n=2000 (repeatable)")
      ->allow_extra_args(false);
  c.run = [a, &g] { return run_cmd(*a, g); };
  return c;
}

}  // namespace anvil::cli
