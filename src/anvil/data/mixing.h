// Mixing sources by target shares of bytes (default 60% general / 30% domain / 10% synthetic) by
// down-sampling or capped up-sampling. Plan: output size T = min(Σ input bytes, min_g bytes_g ×
// max_epochs / share_g); group g gets rate r_g = share_g × T / bytes_g copies per document (≤ max_epochs).
// Each document gets floor(r) or floor(r)+1 copies, chosen by a hash of (seed, id), so any shard
// decides alone and reruns agree. Groups with a share but no data are reported, the rest renormalised.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "anvil/base/status.h"

namespace anvil::data {

struct MixOptions {
  std::map<std::string, double> shares = {{"general", 0.6}, {"domain", 0.3}, {"synthetic", 0.1}};
  double max_epochs = 4.0;
  uint64_t seed = 1;
};

struct MixGroupPlan {
  double target_share = 0;  // as configured, renormalised over groups that have data
  uint64_t input_bytes = 0, input_docs = 0;
  double rate = 0;  // expected copies per document
};

struct MixPlan {
  std::map<std::string, MixGroupPlan> groups;
  double total_bytes = 0;  // T
  std::string note;        // e.g. which group limited T, groups missing data
};

// `bytes`/`docs` per group present in the data; a group absent from opt.shares is an error.
Result<MixPlan> plan_mixture(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const MixOptions& opt);
// Copies of document `id` in `group` under the plan (0 = dropped by down-sampling).
uint32_t mix_copies(const MixPlan& plan, const std::string& group, std::string_view id, uint64_t seed);

}  // namespace anvil::data
