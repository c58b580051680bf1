// Mixing sources by target shares of bytes (default 60% general / 30% domain / 10% synthetic) by
// down-sampling or capped up-sampling. Plan: output size T = min(Σ input bytes, min_g bytes_g ×
// max_epochs / share_g); group g gets rate r_g = share_g × T / bytes_g copies per document (≤ max_epochs).
// Each document gets floor(r) or floor(r)+1 copies, chosen by a hash of (seed, id), so any shard
// decides alone and reruns agree. Groups with a share but no data are reported, the rest renormalised.
// Balancing by a category field ([[balance]], docs/data.md §balance) plans the categories of one group
// or source the same way (amounts in documents or bytes); its copies come first, mixing scales them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

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
  std::map<std::string, MixGroupPlan> groups;  // groups, or the categories of a balance scope
  double total_bytes = 0;  // T (for a balance plan: in its unit, documents or bytes)
  std::string note;        // e.g. which group limited T, groups missing data
};

// `bytes`/`docs` per group present in the data; a group absent from opt.shares is an error.
Result<MixPlan> plan_mixture(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const MixOptions& opt);
// floor(rate) or floor(rate)+1, the extra copy with probability frac(rate), drawn from a hash of
// (seed, id): deterministic per document, averaging to `rate`.
uint32_t stochastic_copies(double rate, std::string_view id, uint64_t seed);
// Copies of document `id` in `group` under the plan (0 = dropped by down-sampling); `scale` multiplies
// the group's rate (the document's balance copies, 1 when it is not balanced).
uint32_t mix_copies(const MixPlan& plan, const std::string& group, std::string_view id, uint64_t seed,
                    double scale = 1.0);

enum class BalanceUnit { kDocs, kBytes };

// One [[balance]] table: balance the records of one group (or one input source) over the values of a
// JSONL field. Empty shares = uniform: equal shares for every category found, "(none)" included.
struct BalanceSpec {
  std::string group = {}, source = {};  // the scope: exactly one is set; a source scope wins over a group
  std::string field = {};               // ReaderOptions::category_field
  std::map<std::string, double> shares = {};
  BalanceUnit unit = BalanceUnit::kDocs;
  double max_epochs = 4.0;
  std::string where = {};                             // "prep.toml:12: balance[0]" for messages
  std::map<std::string, std::string> share_where = {};  // category → "prep.toml:14: balance[0].shares.x"
  std::string shares_where = {};                       // "prep.toml:13: balance[0].shares" (the table)
  std::string scope() const { return source.empty() ? "group:" + group : "source:" + source; }
};

inline constexpr double kShareSumTolerance = 1e-6;  // explicit shares must sum to 1 within this

// Config-time checks (field set, one scope, shares >= 0 summing to 1, max_epochs >= 1).
Status validate_balance(const BalanceSpec& spec);
// Rates per category from (bytes, docs) per category of the scope. Errors (naming spec.where): a share
// for a category no record has, a category with records but no share, the field missing in every record.
Result<MixPlan> plan_balance(const std::map<std::string, std::pair<uint64_t, uint64_t>>& bytes_docs,
                             const BalanceSpec& spec);

}  // namespace anvil::data
