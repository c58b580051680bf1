// Optimizers over fp32 master weights: AdamW (torch.optim.AdamW) and Lion (google/automl
// lion_pytorch.py), formulas and defaults per /work/shared/specs/method-specs.md §1-2.
// Each parameter is a named f32 tensor with an f32 gradient of the same shape and a group that
// carries its weight decay and lr multiplier. step(lr) updates every parameter whose grad is defined,
// in place; a parameter without a grad is skipped entirely (no decay, no state change), as in torch.
// Updates are element-wise, so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/core/safetensors.h"
#include "anvil/core/tensor.h"

namespace anvil::optim {

struct ParamGroup {
  std::string name;           // "decay", "no_decay", ...
  double weight_decay = 0.0;  // decoupled: θ *= 1 - lr·lr_scale·weight_decay
  double lr_scale = 1.0;      // this group's lr = scheduled lr · lr_scale
};

struct ParamRef {
  std::string name;  // unique; names the optimizer state tensors ("<name>.exp_avg", ...)
  Tensor value;      // f32, contiguous; updated in place
  Tensor grad;       // f32, contiguous, value's shape; undefined = no gradient this step
  int group = 0;     // index into the optimizer's groups
};

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};
inline constexpr double kAdamWDefaultLr = 1e-3;
inline constexpr double kAdamWDefaultWeightDecay = 1e-2;

struct LionOptions {
  double beta1 = 0.9;
  double beta2 = 0.99;
};
inline constexpr double kLionDefaultLr = 1e-4;
inline constexpr double kLionDefaultWeightDecay = 0.0;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a grad, at learning rate `lr` (times its group's lr_scale).
  virtual void step(double lr) = 0;
  virtual const char* kind() const = 0;  // "adamw", "lion"

  // The optimizer state as named f32/i64 tensors, for a safetensors file: views of the live state,
  // so serialize them before the next step. AdamW: "<p>.exp_avg", "<p>.exp_avg_sq", "<p>.step"
  // (i64 scalar); Lion: "<p>.exp_avg".
  virtual NamedTensors state() const = 0;
  // Restores state() output (copied into the live buffers state() views). Every expected tensor must be present with the parameter's
  // shape; unexpected names are errors too, so a state file from another model does not half-load.
  Status load_state(const NamedTensors& state);
  Status load_state(const SafetensorsFile& file);

  void zero_grad();  // fills every defined grad with 0
  std::vector<ParamRef>& params() { return params_; }
  const std::vector<ParamRef>& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

 protected:
  // Checks (ANVIL_CHECK: these are programming errors, not user input) that params are f32,
  // contiguous, uniquely named, with grads of the same shape and valid group indices.
  Optimizer(std::vector<ParamRef> params, std::vector<ParamGroup> groups);
  // ANVIL_CHECK that a grad (re)assigned since construction still fits its parameter.
  static void check_grad(const ParamRef& p);
  double group_lr(double lr, int group) const { return lr * groups_[static_cast<size_t>(group)].lr_scale; }
  double group_wd(int group) const { return groups_[static_cast<size_t>(group)].weight_decay; }

  std::vector<ParamRef> params_;
  std::vector<ParamGroup> groups_;
};

// Shared checks of user-given hyper-parameters (errors name `op`, the group and the value).
Status validate_groups(const char* op, const std::vector<ParamGroup>& groups);
Status validate_beta(const char* op, const char* name, double beta);

// torch.optim.AdamW, bit-for-bit in formula order for one step t (per parameter, t = 1, 2, ...):
//   θ ← θ·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   θ ← θ − (lr/(1−β1^t))·m / (√v/√(1−β2^t) + ε)
class AdamW final : public Optimizer {
 public:
  // Empty `groups` means one group with kAdamWDefaultWeightDecay. Errors for hyper-parameters out
  // of range (β outside [0, 1), ε < 0, λ < 0).
  static Result<std::unique_ptr<AdamW>> create(std::vector<ParamRef> params, std::vector<ParamGroup> groups,
                                               const AdamWOptions& options = {});
  void step(double lr) override;
  const char* kind() const override { return "adamw"; }
  NamedTensors state() const override;
  const AdamWOptions& options() const { return options_; }

 private:
  AdamW(std::vector<ParamRef> params, std::vector<ParamGroup> groups, const AdamWOptions& options);

  AdamWOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::vector<Tensor> step_;  // i64 scalars: steps taken by each parameter
};

// Lion (Chen et al. 2023) as google/automl lion_pytorch.py does it:
//   θ ← θ·(1 − lr·λ);  θ ← θ − lr·sign(β1·m + (1−β1)·g);  m ← β2·m + (1−β2)·g;  sign(0) = 0.
class Lion final : public Optimizer {
 public:
  // Empty `groups` means one group with kLionDefaultWeightDecay (0). Errors as AdamW::create.
  static Result<std::unique_ptr<Lion>> create(std::vector<ParamRef> params, std::vector<ParamGroup> groups,
                                              const LionOptions& options = {});
  void step(double lr) override;
  const char* kind() const override { return "lion"; }
  NamedTensors state() const override;
  const LionOptions& options() const { return options_; }

 private:
  Lion(std::vector<ParamRef> params, std::vector<ParamGroup> groups, const LionOptions& options);

  LionOptions options_;
  std::vector<Tensor> exp_avg_;
};

}  // namespace anvil::optim
