// Mixture planning and per-document copy decisions (mixing.h).
#include "anvil/data/mixing.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <xxhash.h>

namespace anvil::data {

Result<MixPlan> plan_mixture(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const MixOptions& opt) {
  if (opt.max_epochs < 1.0) return invalid_argument("[mix] max_epochs must be >= 1, got {}", opt.max_epochs);
  for (const auto& [g, bd] : bytes_docs) {
    if (!opt.shares.count(g)) {
      return invalid_argument("[mix] group '{}' has data but no share in [mix.shares]", g);
    }
  }
  MixPlan plan;
  double share_sum = 0, input_total = 0;
  for (const auto& [g, share] : opt.shares) {
    if (share < 0) return invalid_argument("[mix] share of '{}' is negative ({})", g, share);
    auto it = bytes_docs.find(g);
    if (it == bytes_docs.end() || it->second.first == 0) {
      if (share > 0) plan.note += fmt::format("group '{}' has share {} but no data; ", g, share);
      continue;
    }
    share_sum += share;
    input_total += static_cast<double>(it->second.first);
  }
  if (share_sum <= 0) return invalid_argument("[mix] no group with data has a positive share");
  double total = input_total;
  std::string limiter;
  for (const auto& [g, share] : opt.shares) {
    auto it = bytes_docs.find(g);
    if (it == bytes_docs.end() || it->second.first == 0 || share <= 0) continue;
    const double cap = static_cast<double>(it->second.first) * opt.max_epochs / (share / share_sum);
    if (cap < total) total = cap, limiter = g;
  }
  plan.total_bytes = total;
  if (!limiter.empty()) plan.note += fmt::format("output size limited by group '{}' at {} epochs", limiter, opt.max_epochs);
  for (const auto& [g, bd] : bytes_docs) {
    MixGroupPlan gp;
    gp.input_bytes = bd.first, gp.input_docs = bd.second;
    const double share = opt.shares.at(g);
    gp.target_share = share / share_sum;
    gp.rate = bd.first > 0 ? std::min(opt.max_epochs, gp.target_share * total / static_cast<double>(bd.first)) : 0;
    plan.groups[g] = gp;
  }
  return plan;
}

uint32_t mix_copies(const MixPlan& plan, const std::string& group, std::string_view id, uint64_t seed) {
  auto it = plan.groups.find(group);
  if (it == plan.groups.end()) return 0;
  const double rate = it->second.rate;
  const double whole = std::floor(rate);
  const uint64_t h = XXH3_64bits_withSeed(id.data(), id.size(), seed);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return static_cast<uint32_t>(whole) + (u < rate - whole ? 1u : 0u);
}

}  // namespace anvil::data
