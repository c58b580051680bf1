// `anvil train --config run.toml` and `anvil train --resume RUN_DIR`: reads the run config (strict
// TOML through train/train_config.h, the parser `anvil run` shares), copies it to RUN_DIR/run.toml,
// and runs the trainer. SIGINT/SIGTERM stop the run cleanly after the current step, with a
// checkpoint; `--resume` continues bit-exactly from the latest one. Config reference:
// examples/train.toml.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "anvil/base/file.h"
#include "anvil/cli/command.h"
#include "anvil/train/train_config.h"
#include "anvil/train/trainer.h"

namespace anvil::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop_requested{false};

void on_stop_signal(int) { g_stop_requested.store(true); }

}  // namespace

Command register_train(CLI::App& app, const GlobalOptions& g) {
  struct Args {
    std::string config, resume, run_dir;
    int64_t steps = 0;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("train", "Pretrain a model on token shards (AdamW/Lion, schedules, checkpoints)");
  c.app->footer(
      "The run config is TOML; examples/train.toml documents every key. Writes RUN_DIR/metrics.jsonl,\n"
      "RUN_DIR/checkpoints/step-N/ (config.json, model.safetensors, optimizer.safetensors,\n"
      "trainer_state.json) and RUN_DIR/run.toml. Ctrl-C stops after the current step with a checkpoint;\n"
      "`anvil train --resume RUN_DIR` continues exactly where it stopped.");
  auto* cfg = c.app->add_option("-c,--config", args->config, "run config (TOML)");
  auto* res = c.app->add_option("--resume", args->resume, "continue the run in this directory from its latest checkpoint");
  cfg->excludes(res);
  c.app->add_option("--run-dir", args->run_dir, "override run.dir of the config");
  c.app->add_option("--steps", args->steps, "override schedule.steps (total optimizer steps)");

  c.run = [args, &g]() -> int {
    if (args->config.empty() && args->resume.empty()) {
      std::fprintf(stderr, "anvil train: give --config RUN.toml or --resume RUN_DIR\nRun 'anvil train --help' for usage.\n");
      return 2;
    }
    const bool resume = !args->resume.empty();
    const std::string config_path = resume ? (fs::path(args->resume) / "run.toml").string() : args->config;
    auto text = read_file(config_path);
    if (!text.ok()) return report_failure("train", text.status());
    train::TrainOptions o;
    o.seed = g.seed;
    if (Status s = train::parse_train_config(*text, config_path, o); !s.ok()) {
      report_failure("train", s);
      return 2;  // a config error is a usage error, as in `anvil run` and `anvil prep`
    }
    if (resume) o.run_dir = args->resume;
    if (!args->run_dir.empty()) o.run_dir = args->run_dir;
    if (args->steps > 0) o.steps = args->steps;

    Context ctx = make_cli_context(g);
    auto trainer = train::Trainer::create(o, ctx, resume);
    if (!trainer.ok()) return report_failure("train", trainer.status());
    if (!resume) {
      if (Status s = write_file_atomic((fs::path(o.run_dir) / "run.toml").string(), *text); !s.ok())
        return report_failure("train", s);
    }
    install_stop_handlers(on_stop_signal);
    ctx.log->info("[train] run dir {}: {} steps of {} tokens", o.run_dir, o.steps, o.grad_accum * o.batch_size * o.context);
    auto summary = trainer->run(&g_stop_requested);
    if (!summary.ok()) return report_failure("train", summary.status());
    const train::TrainSummary& s = *summary;
    std::printf("steps %lld  loss %.4f -> %.4f  val loss %.4f  %.0f tokens/s  MFU %.1f%%  peak RSS %.0f MiB\n",
                static_cast<long long>(s.steps_done), s.first_loss, s.final_loss, s.final_val_loss, s.tokens_per_s,
                100 * s.mfu, static_cast<double>(s.peak_rss_bytes) / (1024.0 * 1024.0));
    if (s.stopped_early) {
      std::fprintf(stderr, "anvil train: stopped early: %s\n", s.stop_reason.c_str());
      return g_stop_requested.load() ? 130 : 1;
    }
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
