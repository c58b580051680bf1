// Dispatch of the steps of `anvil run` and the external files each one reads (steps.h).
#include "anvil/pipeline/steps.h"

#include <filesystem>

#include "anvil/eval/runner.h"
#include "anvil/pipeline/steps_impl.h"

namespace anvil::pipeline {

Result<StepOutput> run_step(StepKind k, const StepContext& sc) {
  const std::string dir = step_dir(sc.cfg.run_dir, k);
  switch (k) {
    case StepKind::kSynth: return run_synth_step(sc, dir);
    case StepKind::kPrep: return run_prep_step(sc, dir);
    case StepKind::kTokenizer: return run_tokenizer_step(sc, dir);
    case StepKind::kTokenize: return run_tokenize_step(sc, dir);
    case StepKind::kTrain: return run_train_step(sc, dir);
    case StepKind::kEval: return run_eval_step(sc, dir);
    case StepKind::kReport: return run_report_step(sc, dir);
  }
  return internal_error("[run] unknown step {}", static_cast<int>(k));
}

std::vector<std::string> external_inputs(StepKind k, const PipelineConfig& cfg) {
  std::vector<std::string> out;
  switch (k) {
    case StepKind::kPrep:
      for (const InputSource& in : cfg.inputs) out.push_back(in.input.path);
      if (cfg.prep.perplexity) {
        for (const std::string& r : cfg.prep.perplexity_reference) out.push_back(r);
        if (!cfg.prep.perplexity_model.empty()) out.push_back(cfg.prep.perplexity_model);
      }
      break;
    case StepKind::kTrain:
      if (std::filesystem::is_regular_file(cfg.model_config)) out.push_back(cfg.model_config);
      if (!cfg.train.init_from.empty()) out.push_back(cfg.train.init_from);
      break;
    case StepKind::kEval:
      for (const std::string& t : cfg.eval.tasks) {
        auto spec = eval::parse_task_spec(t);
        if (spec.ok() && spec->kind != eval::TaskKind::kSynth) out.push_back(spec->arg);
      }
      break;
    default:
      break;
  }
  return out;
}

}  // namespace anvil::pipeline
