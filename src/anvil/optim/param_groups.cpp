// Weight-decay groups (see param_groups.h for the rule and its source).
#include "anvil/optim/param_groups.h"

namespace anvil::optim {

bool is_decayed(const ParamRef& param, const DecayOptions& options) {
  if (param.value.rank() < 2) return false;
  if (options.embeddings == EmbeddingDecay::kNoDecay)
    for (const std::string& marker : options.embedding_markers)
      if (param.name.find(marker) != std::string::npos) return false;
  return true;
}

std::vector<ParamGroup> assign_decay_groups(std::vector<ParamRef>& params, const DecayOptions& options) {
  for (ParamRef& p : params) p.group = is_decayed(p, options) ? kDecayGroup : kNoDecayGroup;
  return {{.name = "decay", .weight_decay = options.weight_decay}, {.name = "no_decay", .weight_decay = 0.0}};
}

}  // namespace anvil::optim
