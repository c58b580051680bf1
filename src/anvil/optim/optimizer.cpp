// Optimizer base: parameter checks, state loading, zero_grad. The update rules live in adamw.cpp
// and lion.cpp.
#include "anvil/optim/optimizer.h"

#include <map>
#include <set>

namespace anvil::optim {

Optimizer::Optimizer(std::vector<ParamRef> params, std::vector<ParamGroup> groups)
    : params_(std::move(params)), groups_(std::move(groups)) {
  std::set<std::string> names;
  for (const ParamRef& p : params_) {
    ANVIL_CHECK(names.insert(p.name).second, "parameter name '{}' appears twice", p.name);
    ANVIL_CHECK(p.value.defined() && p.value.dtype() == DType::kF32 && p.value.is_contiguous(),
                "parameter '{}' must be a contiguous f32 tensor, is {}", p.name, p.value.describe());
    if (p.grad.defined()) check_grad(p);
    ANVIL_CHECK(p.group >= 0 && static_cast<size_t>(p.group) < groups_.size(), "parameter '{}': group {} of {}",
                p.name, p.group, groups_.size());
  }
}

void Optimizer::check_grad(const ParamRef& p) {
  ANVIL_CHECK(p.grad.dtype() == DType::kF32 && p.grad.is_contiguous() && p.grad.shape() == p.value.shape(),
              "grad of '{}' must be contiguous f32 {}, is {}", p.name, p.value.shape().to_string(), p.grad.describe());
}

void Optimizer::zero_grad() {
  for (ParamRef& p : params_)
    if (p.grad.defined()) p.grad.fill(0.0f);
}

Status validate_groups(const char* op, const std::vector<ParamGroup>& groups) {
  for (const ParamGroup& g : groups) {
    if (!(g.weight_decay >= 0.0))
      return invalid_argument("[{}] group '{}': weight_decay = {} must be >= 0", op, g.name, g.weight_decay);
    if (!(g.lr_scale >= 0.0))
      return invalid_argument("[{}] group '{}': lr_scale = {} must be >= 0", op, g.name, g.lr_scale);
  }
  return ok_status();
}

Status validate_beta(const char* op, const char* name, double beta) {
  if (!(beta >= 0.0 && beta < 1.0)) return invalid_argument("[{}] {} = {} is outside [0, 1)", op, name, beta);
  return ok_status();
}

Status Optimizer::load_state(const NamedTensors& state) {
  NamedTensors slots = this->state();  // views of the live buffers
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) {
    if (!given.emplace(name, &t).second)
      return invalid_argument("[optim.load_state] {}: state tensor '{}' appears twice", kind(), name);
  }
  for (auto& [name, slot] : slots) {
    auto it = given.find(name);
    if (it == given.end())
      return not_found("[optim.load_state] {}: state tensor '{}' is missing ({} given, {} expected)", kind(), name,
                       state.size(), slots.size());
    const Tensor& src = *it->second;
    if (src.shape() != slot.shape())
      return invalid_argument("[optim.load_state] {}: state tensor '{}' has shape {}, the parameter needs {}", kind(),
                              name, src.shape().to_string(), slot.shape().to_string());
    if (src.dtype() != slot.dtype())
      return invalid_argument("[optim.load_state] {}: state tensor '{}' is {}, expected {}", kind(), name,
                              dtype_name(src.dtype()), dtype_name(slot.dtype()));
    given.erase(it);
  }
  if (!given.empty())
    return invalid_argument("[optim.load_state] {}: unexpected state tensor '{}' (no such parameter or slot)", kind(),
                            given.begin()->first);
  // Everything checked: now copy, so a failed load leaves the state untouched.
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : state) by_name[name] = &t;
  for (auto& [name, slot] : slots) slot.copy_from(*by_name[name]);
  return ok_status();
}

Status Optimizer::load_state(const SafetensorsFile& file) {
  NamedTensors state;
  for (const std::string& name : file.names()) {
    ANVIL_ASSIGN_OR_RETURN(Tensor t, file.get(name));
    state.emplace_back(name, std::move(t));
  }
  return load_state(state).with_context(fmt::format("loading optimizer state '{}'", file.label()));
}

}  // namespace anvil::optim
