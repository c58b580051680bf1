// AdamW as torch.optim.AdamW's default single-tensor path (torch/optim/adamw.py
// `_single_tensor_adamw`, torch 1.13): scalars are computed in double as Python does, rounded to
// f32 where torch passes them to a kernel, and each tensor op rounds where torch's does (measured
// on torch 1.13's CPU kernels): `add_(g, alpha)` is fma(g, alpha, m), `addcmul_(g, g, c)` is
// fma(c·g, g, v), `addcdiv_(m, d, c)` is θ + (c·m)/d with no fusion.
#include <cmath>

#include "anvil/optim/optimizer.h"

namespace anvil::optim {

namespace {
constexpr int64_t kParallelMinElements = 1 << 15;
}

Result<std::unique_ptr<AdamW>> AdamW::create(std::vector<ParamRef> params, std::vector<ParamGroup> groups,
                                             const AdamWOptions& options) {
  if (groups.empty()) groups.push_back({.name = "default", .weight_decay = kAdamWDefaultWeightDecay});
  ANVIL_RETURN_IF_ERROR(validate_beta("optim.adamw", "beta1", options.beta1));
  ANVIL_RETURN_IF_ERROR(validate_beta("optim.adamw", "beta2", options.beta2));
  if (!(options.eps >= 0.0)) return invalid_argument("[optim.adamw] eps = {} must be >= 0", options.eps);
  ANVIL_RETURN_IF_ERROR(validate_groups("optim.adamw", groups));
  return std::unique_ptr<AdamW>(new AdamW(std::move(params), std::move(groups), options));
}

AdamW::AdamW(std::vector<ParamRef> params, std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Optimizer(std::move(params), std::move(groups)), options_(options) {
  for (const ParamRef& p : params_) {
    exp_avg_.push_back(Tensor::zeros(p.value.shape()));
    exp_avg_sq_.push_back(Tensor::zeros(p.value.shape()));
    step_.push_back(Tensor::zeros({}, DType::kI64));
  }
}

void AdamW::step(double lr) {
  const float beta1 = static_cast<float>(options_.beta1), beta2 = static_cast<float>(options_.beta2);
  const float one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  const float one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  const float eps = static_cast<float>(options_.eps);
  for (size_t k = 0; k < params_.size(); ++k) {
    const ParamRef& p = params_[k];
    if (!p.grad.defined()) continue;
    check_grad(p);
    int64_t& t = step_[k].data<int64_t>()[0];
    t += 1;
    const double group_lr_d = group_lr(lr, p.group);
    const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t));
    const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t));
    const float decay = static_cast<float>(1.0 - group_lr_d * group_wd(p.group));
    const float neg_step_size = static_cast<float>(-(group_lr_d / bias_correction1));
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));

    float* __restrict theta = p.value.data<float>();
    const float* __restrict g = p.grad.data<float>();
    float* __restrict m = exp_avg_[k].data<float>();
    float* __restrict v = exp_avg_sq_[k].data<float>();
    const int64_t n = p.value.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i];
      const float mi = std::fma(gi, one_minus_beta1, m[i] * beta1);  // exp_avg.mul_(β1).add_(g, α=1-β1)
      const float vi = std::fma(one_minus_beta2 * gi, gi, v[i] * beta2);  // exp_avg_sq.mul_(β2).addcmul_(g, g, 1-β2)
      const float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
      theta[i] = theta[i] * decay + neg_step_size * mi / denom;       // mul_(decay), then addcdiv_
      m[i] = mi;
      v[i] = vi;
    }
  }
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (size_t k = 0; k < params_.size(); ++k) {
    out.emplace_back(params_[k].name + ".exp_avg", exp_avg_[k]);
    out.emplace_back(params_[k].name + ".exp_avg_sq", exp_avg_sq_[k]);
    out.emplace_back(params_[k].name + ".step", step_[k]);
  }
  return out;
}

}  // namespace anvil::optim
