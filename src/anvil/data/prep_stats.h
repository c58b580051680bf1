// Bookkeeping the prep stages write between them (stats.<i>.json after filter, final.<i>.json after
// finalize) and the report merges: record accounting per source, per-stage counters with timings,
// rule-level drop counts, PII and language counts, the mixture plan and what was written.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/data/mixing.h"
#include "anvil/data/pii.h"
#include "anvil/data/record.h"

namespace anvil::data {

struct StageCounter {
  uint64_t docs_in = 0, bytes_in = 0, docs_out = 0, bytes_out = 0;
  double seconds = 0;
  void add(size_t in, size_t out, double s, bool passed = true) {
    ++docs_in, bytes_in += in, seconds += s;
    if (passed) ++docs_out, bytes_out += out;
  }
  void merge(const StageCounter& o);
  nlohmann::json to_json() const;
  static StageCounter from_json(const nlohmann::json& j);
};

struct ShardStats {
  RecordStats total;
  std::map<std::string, RecordStats> sources;
  std::vector<std::pair<std::string, StageCounter>> stages;  // in pipeline order
  std::map<std::string, uint64_t> rules;                     // "gopher_short_doc" → count
  std::array<uint64_t, kNumPiiTypes> pii{};
  std::map<std::string, uint64_t> langs;
  std::vector<std::string> groups;  // group index → name, for index.<i>.bin
  // category index → (balance spec index, category), for index.<i>.bin (per shard, not merged)
  std::vector<std::pair<uint32_t, std::string>> categories;
  uint64_t n_utf8_repaired = 0, exact_dedup_docs = 0, exact_dedup_bytes = 0;
  uint32_t shard = 0;
  // One entry per filter shard that ran the perplexity filter: its model, mode, threshold, counts.
  std::vector<nlohmann::json> perplexity;

  StageCounter& stage(const std::string& name);
  void merge(const ShardStats& o);
  nlohmann::json to_json() const;
  static ShardStats from_json(const nlohmann::json& j);
};

// One category of a [[balance]] scope in one finalize shard: its plan and what became of its records.
struct BalanceCategoryStats {
  MixGroupPlan plan;  // target share, input docs/bytes (after near-dedup, all shards), rate
  uint64_t kept = 0;  // distinct records written (copies of one record count once)
  uint64_t output_docs = 0, output_bytes = 0;  // written, copies included
  uint64_t dropped_balance = 0, dropped_mixing = 0;
  void merge_counts(const BalanceCategoryStats& o);
};

struct BalanceStats {
  std::string field, unit, note;
  std::map<std::string, BalanceCategoryStats> categories;
};

struct FinalStats {
  RecordStats total;  // drops only (near duplicates, mixing)
  std::map<std::string, RecordStats> sources;
  StageCounter near_dedup;
  MixPlan plan;
  std::map<std::string, std::pair<uint64_t, uint64_t>> output;  // group → (docs, bytes) written
  std::map<std::string, BalanceStats> balance;  // BalanceSpec::scope() → its categories
  nlohmann::json to_json(uint32_t shard) const;
  static FinalStats from_json(const nlohmann::json& j);
};

// "<dir>/<prefix><i><suffix>" files sorted by i (the stage files of every shard or worker).
std::vector<std::string> list_stage_files(const std::string& dir, const std::string& prefix, const std::string& suffix);

}  // namespace anvil::data
