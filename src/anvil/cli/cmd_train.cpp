// `anvil train --config run.toml` and `anvil train --resume RUN_DIR`: reads the run config (strict
// TOML: unknown or mistyped keys are errors naming the key path), copies it to RUN_DIR/run.toml,
// and runs the trainer. SIGINT/SIGTERM stop the run cleanly after the current step, with a
// checkpoint; `--resume` continues bit-exactly from the latest one. Config reference:
// examples/train.toml.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "anvil/base/file.h"
#include "anvil/base/toml_reader.h"
#include "anvil/cli/command.h"
#include "anvil/train/trainer.h"

namespace anvil::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop_requested{false};

void on_stop_signal(int) { g_stop_requested.store(true); }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Reads every section of the run config into `o`; all problems are reported together.
Status parse_run_config(const std::string& text, const std::string& source, train::TrainOptions& o) {
  ANVIL_ASSIGN_OR_RETURN(auto doc, TomlDocument::parse(text, source));
  TomlSection root = doc->root();

  int64_t seed = static_cast<int64_t>(o.seed);
  root.section("run").get("dir", o.run_dir).get("seed", seed);
  o.seed = static_cast<uint64_t>(seed);

  std::string model_config;
  root.section("model").require("config", model_config).get("init_from", o.init_from);

  root.section("data")
      .require("train", o.train_data)
      .get("val", o.val_data)
      .get("context", o.context)
      .get("batch_size", o.batch_size)
      .get("grad_accum", o.grad_accum);

  std::string opt_name = "adamw";
  std::vector<double> betas = {o.beta1, o.beta2};
  bool decay_embeddings = false;
  TomlSection optim = root.section("optim");
  optim.get_choice("name", opt_name, {"adamw", "lion"})
      .get("lr", o.schedule.peak_lr)
      .get("min_lr", o.schedule.min_lr)
      .get("betas", betas)
      .get("eps", o.eps)
      .get("weight_decay", o.weight_decay)
      .get("decay_embeddings", decay_embeddings)
      .get("clip", o.clip);

  std::string kind = "cosine";
  double warmup = 0.0;
  root.section("schedule").get_choice("kind", kind, {"cosine", "linear", "constant"}).require("steps", o.steps).get("warmup", warmup);

  std::string precision = "f32";
  root.section("train").get("label_smoothing", o.label_smoothing).get_choice("precision", precision, {"f32", "bf16"});

  root.section("log").get("val_every", o.val_every).get("val_batches", o.val_batches).get("peak_gflops", o.peak_gflops);
  root.section("checkpoint").get("every", o.checkpoint_every).get("keep_last", o.keep_last);
  ANVIL_RETURN_IF_ERROR(doc->finish());

  if (betas.size() != 2) return invalid_argument("{}: 'optim.betas' must hold 2 numbers, got {}", source, betas.size());
  o.beta1 = betas[0];
  o.beta2 = betas[1];
  o.optimizer = opt_name == "lion" ? train::OptimizerKind::kLion : train::OptimizerKind::kAdamW;
  o.embedding_decay = decay_embeddings ? optim::EmbeddingDecay::kDecay : optim::EmbeddingDecay::kNoDecay;
  ANVIL_ASSIGN_OR_RETURN(o.schedule.kind, optim::schedule_kind_from_name(kind));
  if (warmup < 0) return invalid_argument("{}: 'schedule.warmup' must be >= 0, got {}", source, warmup);
  if (warmup < 1.0) o.schedule.warmup_fraction = warmup;
  else o.schedule.warmup_steps = static_cast<int64_t>(warmup);
  o.precision = precision == "bf16" ? Precision::kBF16 : Precision::kF32;
  if (o.run_dir.empty()) return invalid_argument("{}: 'run.dir' is required (or pass --run-dir)", source);

  auto mc = model::config_from_arg(model_config);
  if (!mc.ok()) return mc.status().with_context(fmt::format("{}: model.config = \"{}\"", source, model_config));
  o.model = *mc;
  return ok_status();
}

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
    if (Status s = parse_run_config(*text, config_path, o); !s.ok()) return report_failure("train", s);
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
    install_stop_handlers();
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
