// Internal to pipeline/: one function per step (steps_data.cpp, steps_model.cpp, report.cpp), called by
// run_step() with the step's folder.
#pragma once

#include <string>

#include "anvil/pipeline/steps.h"

namespace anvil::pipeline {

Result<StepOutput> run_synth_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_prep_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_tokenizer_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_tokenize_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_train_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_eval_step(const StepContext& sc, const std::string& dir);
Result<StepOutput> run_report_step(const StepContext& sc, const std::string& dir);

}  // namespace anvil::pipeline
