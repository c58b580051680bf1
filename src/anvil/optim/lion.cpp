// Lion as google/automl `lion/lion_pytorch.py` does it, per element:
//   p.mul_(1 - lr·wd); update = m·β1 + g·(1-β1); p.add_(sign(update), alpha=-lr);
//   m.mul_(β2).add_(g, alpha=1-β2)
// with torch's roundings: `add_(x, alpha)` is a fused multiply-add (ATen's vectorized add), the
// `update` expression is two products and a sum, each rounded. sign(0) = 0 (and sign(NaN) = 0).
#include <cmath>

#include "anvil/optim/optimizer.h"

namespace anvil::optim {

namespace {
constexpr int64_t kParallelMinElements = 1 << 15;
}

Result<std::unique_ptr<Lion>> Lion::create(std::vector<ParamRef> params, std::vector<ParamGroup> groups,
                                           const LionOptions& options) {
  if (groups.empty()) groups.push_back({.name = "default", .weight_decay = kLionDefaultWeightDecay});
  ANVIL_RETURN_IF_ERROR(validate_beta("optim.lion", "beta1", options.beta1));
  ANVIL_RETURN_IF_ERROR(validate_beta("optim.lion", "beta2", options.beta2));
  ANVIL_RETURN_IF_ERROR(validate_groups("optim.lion", groups));
  return std::unique_ptr<Lion>(new Lion(std::move(params), std::move(groups), options));
}

Lion::Lion(std::vector<ParamRef> params, std::vector<ParamGroup> groups, const LionOptions& options)
    : Optimizer(std::move(params), std::move(groups)), options_(options) {
  for (const ParamRef& p : params_) exp_avg_.push_back(Tensor::zeros(p.value.shape()));
}

void Lion::step(double lr) {
  const float beta1 = static_cast<float>(options_.beta1), beta2 = static_cast<float>(options_.beta2);
  const float one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  const float one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  for (size_t k = 0; k < params_.size(); ++k) {
    const ParamRef& p = params_[k];
    if (!p.grad.defined()) continue;
    check_grad(p);
    const double group_lr_d = group_lr(lr, p.group);
    const float decay = static_cast<float>(1.0 - group_lr_d * group_wd(p.group));
    const float neg_lr = static_cast<float>(-group_lr_d);

    float* __restrict theta = p.value.data<float>();
    const float* __restrict g = p.grad.data<float>();
    float* __restrict m = exp_avg_[k].data<float>();
    const int64_t n = p.value.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i];
      const float update = m[i] * beta1 + gi * one_minus_beta1;
      const float sign = static_cast<float>((update > 0.0f) - (update < 0.0f));
      theta[i] = std::fma(sign, neg_lr, theta[i] * decay);
      m[i] = std::fma(gi, one_minus_beta2, m[i] * beta2);
    }
  }
}

NamedTensors Lion::state() const {
  NamedTensors out;
  for (size_t k = 0; k < params_.size(); ++k) out.emplace_back(params_[k].name + ".exp_avg", exp_avg_[k]);
  return out;
}

}  // namespace anvil::optim
