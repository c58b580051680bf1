// Training settings from TOML (see train_config.h); the reference of every key is examples/train.toml.
#include "anvil/train/train_config.h"

namespace anvil::train {

Status read_train_config(TomlSection root, TrainConfigScope scope, TrainOptions& o, std::string& model_config) {
  if (scope == TrainConfigScope::kRunFile) {
    int64_t seed = static_cast<int64_t>(o.seed);
    root.section("run").get("dir", o.run_dir).get("seed", seed);
    o.seed = static_cast<uint64_t>(seed);
  }
  root.section("model").require("config", model_config).get("init_from", o.init_from);

  TomlSection data = root.section("data");
  if (scope == TrainConfigScope::kRunFile) data.require("train", o.train_data).get("val", o.val_data);
  data.get("context", o.context).get("batch_size", o.batch_size).get("grad_accum", o.grad_accum);

  std::string opt_name = o.optimizer == OptimizerKind::kLion ? "lion" : "adamw";
  std::vector<double> betas = {o.beta1, o.beta2};
  bool decay_embeddings = o.embedding_decay == optim::EmbeddingDecay::kDecay;
  root.section("optim")
      .get_choice("name", opt_name, {"adamw", "lion"})
      .get("lr", o.schedule.peak_lr)
      .get("min_lr", o.schedule.min_lr)
      .get("betas", betas)
      .get("eps", o.eps)
      .get("weight_decay", o.weight_decay)
      .get("decay_embeddings", decay_embeddings)
      .get("clip", o.clip);

  std::string kind = "cosine";
  double warmup = 0.0;
  root.section("schedule")
      .get_choice("kind", kind, {"cosine", "linear", "constant"})
      .require("steps", o.steps)
      .get("warmup", warmup);

  std::string precision = o.precision == Precision::kBF16 ? "bf16" : "f32";
  root.section("train").get("label_smoothing", o.label_smoothing).get_choice("precision", precision, {"f32", "bf16"});
  root.section("log")
      .get("val_every", o.val_every)
      .get("val_batches", o.val_batches)
      .get("peak_gflops", o.peak_gflops)
      .get("measure_peak", o.measure_peak);
  root.section("checkpoint").get("every", o.checkpoint_every).get("keep_last", o.keep_last);

  const std::string at = root.path().empty() ? "" : root.path() + ".";
  if (betas.size() != 2) return invalid_argument("'{}optim.betas' must hold 2 numbers, got {}", at, betas.size());
  o.beta1 = betas[0];
  o.beta2 = betas[1];
  o.optimizer = opt_name == "lion" ? OptimizerKind::kLion : OptimizerKind::kAdamW;
  o.embedding_decay = decay_embeddings ? optim::EmbeddingDecay::kDecay : optim::EmbeddingDecay::kNoDecay;
  ANVIL_ASSIGN_OR_RETURN(o.schedule.kind, optim::schedule_kind_from_name(kind));
  if (warmup < 0) return invalid_argument("'{}schedule.warmup' must be >= 0, got {}", at, warmup);
  if (warmup < 1.0) {
    o.schedule.warmup_fraction = warmup;
  } else {
    o.schedule.warmup_steps = static_cast<int64_t>(warmup);
  }
  o.precision = precision == "bf16" ? Precision::kBF16 : Precision::kF32;
  if (o.peak_gflops < 0) return invalid_argument("'{}log.peak_gflops' must be >= 0, got {}", at, o.peak_gflops);
  if (o.measure_peak && o.peak_gflops > 0)
    return invalid_argument("'{}log': give peak_gflops ({}) or measure_peak = true, not both", at, o.peak_gflops);
  if (o.steps < 1) return invalid_argument("'{}schedule.steps' = {} must be >= 1", at, o.steps);
  if (o.context < 1 || o.batch_size < 1 || o.grad_accum < 1)
    return invalid_argument("'{}data': context, batch_size and grad_accum must be >= 1, got {}, {}, {}", at, o.context,
                            o.batch_size, o.grad_accum);
  if (model_config.empty()) return ok_status();  // the missing key is reported by finish()
  auto mc = model::config_from_arg(model_config);
  if (!mc.ok()) return mc.status().with_context(fmt::format("{}model.config = \"{}\"", at, model_config));
  o.model = *mc;
  return ok_status();
}

Status parse_train_config(const std::string& text, const std::string& source, TrainOptions& o) {
  ANVIL_ASSIGN_OR_RETURN(auto doc, TomlDocument::parse(text, source));
  std::string model_config;
  const Status values = read_train_config(doc->root(), TrainConfigScope::kRunFile, o, model_config);
  ANVIL_RETURN_IF_ERROR(doc->finish());
  if (!values.ok()) return values.with_context(source);
  if (o.run_dir.empty()) return invalid_argument("{}: 'run.dir' is required (or pass --run-dir)", source);
  return ok_status();
}

}  // namespace anvil::train
