// The model steps of `anvil run`: train (train::Trainer with checkpoints; an interrupted step resumes
// from its latest checkpoint) and eval (eval::run_eval once per synthetic style, so the same model's
// exact match with <think> and answering directly sit side by side).
#include <algorithm>
#include <filesystem>
#include <sstream>

#include <toml++/toml.h>

#include "anvil/base/file.h"
#include "anvil/eval/report.h"
#include "anvil/eval/runner.h"
#include "anvil/pipeline/steps_impl.h"
#include "anvil/report/run_report.h"
#include "anvil/train/checkpoint.h"
#include "anvil/train/trainer.h"

namespace anvil::pipeline {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> shard_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".tok") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// RUN_DIR/05-train/run.toml: the [train] tables as a run file `anvil train --resume` can read.
Result<std::string> train_run_toml(const PipelineConfig& cfg, const train::TrainOptions& o) {
  toml::table t;
  try {
    t = toml::parse(cfg.train_toml);
  } catch (const toml::parse_error& e) {
    return internal_error("[run.train] re-reading the [train] tables failed: {}", e.description());
  }
  t.insert_or_assign("run", toml::table{{"dir", o.run_dir}, {"seed", static_cast<int64_t>(o.seed)}});
  if (fs::is_regular_file(cfg.model_config)) {  // so `anvil train --resume` works from any directory
    if (toml::table* model = t["model"].as_table())
      model->insert_or_assign("config", fs::absolute(cfg.model_config).lexically_normal().string());
  }
  if (!t.contains("data")) t.insert("data", toml::table{});
  toml::table& data = *t["data"].as_table();
  toml::array train, val;
  for (const std::string& p : o.train_data) train.push_back(p);
  for (const std::string& p : o.val_data) val.push_back(p);
  data.insert_or_assign("train", train);
  data.insert_or_assign("val", val);
  std::ostringstream os;
  os << "# Written by `anvil run` from the [train] tables of " << cfg.source << "\n" << t << "\n";
  return os.str();
}

}  // namespace

Result<std::string> trained_model_dir(const PipelineConfig& cfg) {
  ANVIL_ASSIGN_OR_RETURN(train::CheckpointRef ref, train::latest_checkpoint(step_dir(cfg.run_dir, StepKind::kTrain)));
  return ref.dir;
}

Result<StepOutput> run_train_step(const StepContext& sc, const std::string& dir) {
  train::TrainOptions o = sc.cfg.train;
  o.run_dir = dir;
  const fs::path shards = step_dir(sc.cfg.run_dir, StepKind::kTokenize);
  o.train_data = {(shards / "train").string()};
  if (!shard_files(shards / "val").empty()) o.val_data = {(shards / "val").string()};
  const bool resume = sc.train_start == TrainStart::kResume;
  ANVIL_ASSIGN_OR_RETURN(train::Trainer trainer, train::Trainer::create(o, sc.ctx, resume));
  if (!resume) {
    ANVIL_ASSIGN_OR_RETURN(std::string run_toml, train_run_toml(sc.cfg, o));
    ANVIL_RETURN_IF_ERROR(write_file_atomic((fs::path(dir) / "run.toml").string(), run_toml));
  } else {
    std::fprintf(sc.log, "  train: resuming from the checkpoint at step %lld\n", static_cast<long long>(trainer.step()));
    std::fflush(sc.log);
  }
  ANVIL_ASSIGN_OR_RETURN(train::TrainSummary s, trainer.run(sc.stop));
  if (s.stopped_early) {
    return Status(StatusCode::kCancelled,
                  fmt::format("[run.train] stopped at step {} of {} ({}); run `anvil run` again to resume from the "
                              "checkpoint",
                              s.steps_done, o.steps, s.stop_reason));
  }
  ANVIL_ASSIGN_OR_RETURN(std::string model_dir, trained_model_dir(sc.cfg));
  const fs::path tokenizer = fs::path(step_dir(sc.cfg.run_dir, StepKind::kTokenizer)) / "tokenizer.json";
  std::error_code ec;
  fs::copy_file(tokenizer, fs::path(model_dir) / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
  if (ec) return io_error("[run.train] copying '{}' into '{}': {}", tokenizer.string(), model_dir, ec.message());
  ANVIL_ASSIGN_OR_RETURN(report::RunReportResult page, report::write_run_report({.run_dir = dir, .out_path = ""}));
  const report::RunSummary& m = page.summary;
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  StepOutput out;
  out.outputs = {"metrics.jsonl", "run.toml", "report.html", "checkpoints/latest.json"};
  out.summary = {{"steps", s.steps_done},
                 {"first_loss", num(s.first_loss)},
                 {"final_loss", num(m.final_loss)},
                 {"final_val_loss", num(m.final_val_loss)},
                 {"best_val_loss", num(m.best_val_loss)},
                 {"tokens_seen", num(m.tokens_seen)},
                 {"tokens_per_s", num(m.mean_tokens_per_s)},
                 {"mfu", num(m.mean_mfu)},
                 {"peak_rss_mib", num(m.peak_rss_mib)},
                 {"train_seconds", num(m.train_seconds)},
                 {"model_dir", fs::relative(model_dir, dir).string()},
                 {"resumed", resume}};
  return out;
}

Result<StepOutput> run_eval_step(const StepContext& sc, const std::string& dir) {
  const EvalSettings& es = sc.cfg.eval;
  ANVIL_ASSIGN_OR_RETURN(std::string model_dir, trained_model_dir(sc.cfg));
  const fs::path shards = step_dir(sc.cfg.run_dir, StepKind::kTokenize);
  std::vector<std::string> ppl_shards = shard_files(shards / "val");
  if (ppl_shards.empty()) ppl_shards = shard_files(shards / "train");
  StepOutput out;
  out.summary["styles"] = nlohmann::json::object();
  for (size_t i = 0; i < es.styles.size(); ++i) {
    const std::string& style = es.styles[i];
    eval::EvalConfig ec;
    ec.model_dir = model_dir;
    ec.tokenizer_path = (fs::path(step_dir(sc.cfg.run_dir, StepKind::kTokenizer)) / "tokenizer.json").string();
    for (const std::string& t : es.tasks) {
      if (i == 0 || t.rfind("synth:", 0) == 0) ec.tasks.push_back(t);
    }
    if (i == 0 && es.ppl && !ppl_shards.empty()) ec.tasks.push_back("ppl:" + ppl_shards.front());
    if (ec.tasks.empty()) continue;
    ec.limit = es.limit;
    ec.ppl_max_tokens = es.ppl_max_tokens;
    ec.synth_difficulty = es.synth_difficulty;
    ec.synth_style = style == "direct" ? data::Style::kDirect : data::Style::kCot;
    ec.max_new_tokens = style == "direct" ? es.max_new_tokens_direct : es.max_new_tokens;
    ec.seed = es.seed;
    ec.speed = es.speed && i == 0;
    ec.progress = true;
    std::fprintf(sc.log, "  eval (%s): %s\n", style.c_str(), fmt::format("{}", fmt::join(ec.tasks, ", ")).c_str());
    ANVIL_ASSIGN_OR_RETURN(nlohmann::json rep, eval::run_eval(ec, sc.log));
    const std::string out_dir = (fs::path(dir) / style).string();
    ANVIL_RETURN_IF_ERROR(eval::write_report(rep, out_dir));
    out.outputs.push_back(style + "/eval_report.json");
    out.outputs.push_back(style + "/eval_report.html");
    nlohmann::json rows = nlohmann::json::array();
    for (const eval::SummaryRow& r : eval::summary_rows(rep)) {
      rows.push_back({{"task", r.task}, {"metric", r.metric},
                      {"value", std::isfinite(r.value) ? nlohmann::json(r.value) : nlohmann::json(nullptr)}, {"n", r.n}});
    }
    out.summary["styles"][style] = rows;
    if (rep.contains("speed")) out.summary["speed"] = rep["speed"];
  }
  out.summary["model_dir"] = model_dir;
  return out;
}

}  // namespace anvil::pipeline
