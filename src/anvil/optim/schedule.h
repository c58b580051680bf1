// Learning-rate schedules with linear warmup, as Hugging Face transformers' optimization.py
// (get_cosine_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup,
// get_linear_schedule_with_warmup, get_constant_schedule_with_warmup), spec §2.2.
// Step index: lr(s) is the lr of the optimizer step taken after s completed steps, so the first
// optimizer step uses lr(0) — which is 0 when there is warmup (HF steps LambdaLR after the
// optimizer). Warmup: lr(s) = peak·s/max(1, W) for s < W.
// After warmup, with p = (s − W)/max(1, N − W) clamped to [0, 1] and r = min_lr/peak:
//   cosine: peak·(r + (1 − r)·0.5·(1 + cos(π·p)))   linear: peak·(r + (1 − r)·(N − s)/max(1, N − W))
//   constant: peak
// (HF computes the same; HF lets cosine's p run past 1 and rise again after N, anvil holds min_lr.)
#pragma once

#include <cstdint>
#include <string>

#include "anvil/base/status.h"

namespace anvil::optim {

enum class ScheduleKind { kConstant, kLinear, kCosine };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::kCosine;
  double peak_lr = 1e-3;
  double min_lr = 0.0;           // floor after decay (0: HF's plain cosine / linear)
  int64_t total_steps = 0;       // N, optimizer steps in the run
  int64_t warmup_steps = -1;     // W; -1: derive from warmup_fraction
  double warmup_fraction = 0.0;  // W = ceil(fraction·N), as HF TrainingArguments.get_warmup_steps
};

Result<ScheduleKind> schedule_kind_from_name(const std::string& name);  // "constant", "linear", "cosine"
const char* schedule_kind_name(ScheduleKind kind);

class LrSchedule {
 public:
  // Errors for peak_lr < 0, min_lr outside [0, peak_lr], total_steps < 1 (for linear/cosine),
  // warmup_fraction outside [0, 1], warmup_steps > total_steps.
  static Result<LrSchedule> create(const ScheduleOptions& options);

  double lr(int64_t completed_steps) const;
  double multiplier(int64_t completed_steps) const;  // lr / peak_lr
  int64_t warmup_steps() const { return warmup_steps_; }
  const ScheduleOptions& options() const { return options_; }

 private:
  ScheduleOptions options_;
  int64_t warmup_steps_ = 0;
};

}  // namespace anvil::optim
