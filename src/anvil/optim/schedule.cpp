// LR schedules (see schedule.h); arithmetic in double in the order transformers' lambdas use.
#include "anvil/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace anvil::optim {

Result<ScheduleKind> schedule_kind_from_name(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::kConstant, ScheduleKind::kLinear, ScheduleKind::kCosine})
    if (name == schedule_kind_name(k)) return k;
  return invalid_argument("[optim.schedule] unknown schedule '{}' (expected constant, linear or cosine)", name);
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant: return "constant";
    case ScheduleKind::kLinear: return "linear";
    case ScheduleKind::kCosine: return "cosine";
  }
  return "?";
}

Result<LrSchedule> LrSchedule::create(const ScheduleOptions& o) {
  const char* op = "[optim.schedule]";
  if (!(o.peak_lr >= 0.0)) return invalid_argument("{} peak_lr = {} must be >= 0", op, o.peak_lr);
  if (!(o.min_lr >= 0.0 && o.min_lr <= o.peak_lr))
    return invalid_argument("{} min_lr = {} must be in [0, peak_lr = {}]", op, o.min_lr, o.peak_lr);
  if (o.kind != ScheduleKind::kConstant && o.total_steps < 1)
    return invalid_argument("{} {} schedule needs total_steps >= 1, got {}", op, schedule_kind_name(o.kind),
                            o.total_steps);
  if (!(o.warmup_fraction >= 0.0 && o.warmup_fraction <= 1.0))
    return invalid_argument("{} warmup_fraction = {} must be in [0, 1]", op, o.warmup_fraction);
  LrSchedule s;
  s.options_ = o;
  s.warmup_steps_ = o.warmup_steps >= 0
                        ? o.warmup_steps
                        : static_cast<int64_t>(std::ceil(static_cast<double>(o.total_steps) * o.warmup_fraction));
  if (o.kind != ScheduleKind::kConstant && s.warmup_steps_ > o.total_steps)
    return invalid_argument("{} warmup_steps = {} exceeds total_steps = {}", op, s.warmup_steps_, o.total_steps);
  return s;
}

double LrSchedule::multiplier(int64_t step) const {
  const int64_t w = warmup_steps_;
  if (step < w) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, w));
  if (options_.kind == ScheduleKind::kConstant) return 1.0;
  const int64_t n = options_.total_steps;
  const double span = static_cast<double>(std::max<int64_t>(1, n - w));
  double factor;
  if (options_.kind == ScheduleKind::kCosine) {
    const double progress = std::min(1.0, static_cast<double>(step - w) / span);
    factor = 0.5 * (1.0 + std::cos(std::numbers::pi * 0.5 * 2.0 * progress));  // num_cycles = 0.5
  } else {
    factor = static_cast<double>(n - std::min(step, n)) / span;  // HF: (N - s) / max(1, N - W)
  }
  if (options_.min_lr == 0.0) return std::max(0.0, factor);
  const double min_lr_rate = options_.min_lr / options_.peak_lr;
  return std::max(0.0, factor * (1.0 - min_lr_rate) + min_lr_rate);
}

double LrSchedule::lr(int64_t step) const { return options_.peak_lr * multiplier(step); }

}  // namespace anvil::optim
