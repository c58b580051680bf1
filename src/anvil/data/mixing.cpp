// Mixture and balance planning and per-document copy decisions (mixing.h). One planner serves both:
// `what` names the unit of planning ("group" or "category") in notes and errors.
#include "anvil/data/mixing.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <xxhash.h>

#include "anvil/data/reader.h"

namespace anvil::data {
namespace {

// amounts: name → (amount that shares apply to, docs). Rates r = share × T / amount, capped at max_epochs.
Result<MixPlan> plan_shares(const std::map<std::string, std::pair<uint64_t, uint64_t>>& amounts,
                            const std::map<std::string, double>& shares, double max_epochs, const char* what,
                            const std::string& where) {
  if (max_epochs < 1.0) return invalid_argument("{} max_epochs must be >= 1, got {}", where, max_epochs);
  for (const auto& [g, bd] : amounts) {
    if (!shares.count(g)) return invalid_argument("{} {} '{}' has data but no share", where, what, g);
  }
  MixPlan plan;
  double share_sum = 0, input_total = 0;
  for (const auto& [g, share] : shares) {
    if (share < 0) return invalid_argument("{} share of '{}' is negative ({})", where, g, share);
    auto it = amounts.find(g);
    if (it == amounts.end() || it->second.first == 0) {
      if (share > 0) plan.note += fmt::format("{} '{}' has share {} but no data; ", what, g, share);
      continue;
    }
    share_sum += share;
    input_total += static_cast<double>(it->second.first);
  }
  if (share_sum <= 0) return invalid_argument("{} no {} with data has a positive share", where, what);
  double total = input_total;
  std::string limiter;
  for (const auto& [g, share] : shares) {
    auto it = amounts.find(g);
    if (it == amounts.end() || it->second.first == 0 || share <= 0) continue;
    const double cap = static_cast<double>(it->second.first) * max_epochs / (share / share_sum);
    if (cap < total) total = cap, limiter = g;
  }
  plan.total_bytes = total;
  if (!limiter.empty()) plan.note += fmt::format("output size limited by {} '{}' at {} epochs", what, limiter, max_epochs);
  for (const auto& [g, bd] : amounts) {
    MixGroupPlan gp;
    gp.input_bytes = bd.first, gp.input_docs = bd.second;
    gp.target_share = shares.at(g) / share_sum;
    gp.rate = bd.first > 0 ? std::min(max_epochs, gp.target_share * total / static_cast<double>(bd.first)) : 0;
    plan.groups[g] = gp;
  }
  return plan;
}

}  // namespace

Result<MixPlan> plan_mixture(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const MixOptions& opt) {
  return plan_shares(bytes_docs, opt.shares, opt.max_epochs, "group", "[mix]");
}

uint32_t stochastic_copies(double rate, std::string_view id, uint64_t seed) {
  const double whole = std::floor(rate);
  const uint64_t h = XXH3_64bits_withSeed(id.data(), id.size(), seed);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return static_cast<uint32_t>(whole) + (u < rate - whole ? 1u : 0u);
}

uint32_t mix_copies(const MixPlan& plan, const std::string& group, std::string_view id, uint64_t seed, double scale) {
  auto it = plan.groups.find(group);
  if (it == plan.groups.end()) return 0;
  return stochastic_copies(it->second.rate * scale, id, seed);
}

Status validate_balance(const BalanceSpec& spec) {
  const std::string& w = spec.where;
  if (spec.field.empty()) return invalid_argument("[prep.balance] {}: 'field' is required", w);
  if (spec.group.empty() == spec.source.empty()) {
    return invalid_argument("[prep.balance] {}: set exactly one of 'group' or 'source' (the records to balance)", w);
  }
  if (!(spec.max_epochs >= 1.0)) return invalid_argument("[prep.balance] {}: max_epochs = {} must be >= 1", w, spec.max_epochs);
  if (spec.shares.empty()) return ok_status();
  double sum = 0;
  for (const auto& [c, s] : spec.shares) {
    if (!(s >= 0)) {
      const auto it = spec.share_where.find(c);
      return invalid_argument("[prep.balance] {}: share = {} must be >= 0",
                              it != spec.share_where.end() ? it->second : w + ".shares." + c, s);
    }
    sum += s;
  }
  if (std::abs(sum - 1.0) > kShareSumTolerance) {
    return invalid_argument("[prep.balance] {}: the shares sum to {:.9g}, expected 1 (within {})",
                            spec.shares_where.empty() ? w + ".shares" : spec.shares_where, sum, kShareSumTolerance);
  }
  return ok_status();
}

Result<MixPlan> plan_balance(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const BalanceSpec& spec) {
  MixPlan empty;
  uint64_t n_docs = 0;
  for (const auto& [c, bd] : bytes_docs) n_docs += bd.second;
  if (n_docs == 0) {
    empty.note = fmt::format("{} has no records left to balance", spec.scope());
    return empty;
  }
  if (bytes_docs.size() == 1 && bytes_docs.begin()->first == kNoCategory) {
    return invalid_argument("[prep.balance] {}: field '{}' is missing in all {} records of {}", spec.where, spec.field,
                            n_docs, spec.scope());
  }
  std::string found;
  for (const auto& [c, bd] : bytes_docs) found += (found.empty() ? "'" : ", '") + c + "'";
  std::map<std::string, double> shares = spec.shares;
  if (shares.empty()) {
    for (const auto& [c, bd] : bytes_docs) shares[c] = 1.0 / static_cast<double>(bytes_docs.size());
  } else {
    for (const auto& [c, s] : shares) {
      if (bytes_docs.count(c)) continue;
      const auto it = spec.share_where.find(c);
      return invalid_argument("[prep.balance] {}: no record of {} has {} = '{}' (found: {})",
                              it != spec.share_where.end() ? it->second : spec.where + ".shares." + c, spec.scope(),
                              spec.field, c, found);
    }
    for (const auto& [c, bd] : bytes_docs) {
      if (shares.count(c)) continue;
      return invalid_argument("[prep.balance] {}.shares: category '{}' ({} records of {}) has no share; give it one "
                              "(0 drops it){}",
                              spec.where, c, bd.second, spec.scope(),
                              c == kNoCategory ? fmt::format(" as \"{}\" = …", kNoCategory) : "");
    }
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> amounts;
  for (const auto& [c, bd] : bytes_docs) amounts[c] = {spec.unit == BalanceUnit::kDocs ? bd.second : bd.first, bd.second};
  ANVIL_ASSIGN_OR_RETURN(MixPlan plan,
                         plan_shares(amounts, shares, spec.max_epochs, "category", "[prep.balance] " + spec.where + ":"));
  for (auto& [c, cp] : plan.groups) cp.input_bytes = bytes_docs.at(c).first;  // amounts held docs in docs mode
  return plan;
}

}  // namespace anvil::data
