// JSON round trips and merging for the prep bookkeeping (prep_stats.h).
#include "anvil/data/prep_stats.h"

#include <algorithm>
#include <filesystem>

namespace anvil::data {

void StageCounter::merge(const StageCounter& o) {
  docs_in += o.docs_in, bytes_in += o.bytes_in, docs_out += o.docs_out, bytes_out += o.bytes_out;
  seconds += o.seconds;
}

nlohmann::json StageCounter::to_json() const {
  const double mb_per_s = seconds > 0 ? static_cast<double>(bytes_in) / 1e6 / seconds : 0.0;
  return {{"docs_in", docs_in},     {"bytes_in", bytes_in}, {"docs_out", docs_out},
          {"bytes_out", bytes_out}, {"seconds", seconds},   {"mb_per_s", mb_per_s}};
}

StageCounter StageCounter::from_json(const nlohmann::json& j) {
  StageCounter c;
  c.docs_in = j.value("docs_in", uint64_t{0}), c.bytes_in = j.value("bytes_in", uint64_t{0});
  c.docs_out = j.value("docs_out", uint64_t{0}), c.bytes_out = j.value("bytes_out", uint64_t{0});
  c.seconds = j.value("seconds", 0.0);
  return c;
}

StageCounter& ShardStats::stage(const std::string& name) {
  for (auto& [n, c] : stages) {
    if (n == name) return c;
  }
  stages.emplace_back(name, StageCounter{});
  return stages.back().second;
}

void ShardStats::merge(const ShardStats& o) {
  total.merge(o.total);
  for (const auto& [k, v] : o.sources) sources[k].merge(v);
  for (const auto& [k, v] : o.stages) stage(k).merge(v);
  for (const auto& [k, v] : o.rules) rules[k] += v;
  for (size_t i = 0; i < kNumPiiTypes; ++i) pii[i] += o.pii[i];
  for (const auto& [k, v] : o.langs) langs[k] += v;
  n_utf8_repaired += o.n_utf8_repaired, exact_dedup_docs += o.exact_dedup_docs;
  exact_dedup_bytes += o.exact_dedup_bytes;
  perplexity.insert(perplexity.end(), o.perplexity.begin(), o.perplexity.end());
}

void BalanceCategoryStats::merge_counts(const BalanceCategoryStats& o) {
  kept += o.kept, output_docs += o.output_docs, output_bytes += o.output_bytes;
  dropped_balance += o.dropped_balance, dropped_mixing += o.dropped_mixing;
}

nlohmann::json ShardStats::to_json() const {
  nlohmann::json j;
  j["shard"] = shard;
  j["total"] = total.to_json();
  for (const auto& [k, v] : sources) j["sources"][k] = v.to_json();
  j["stages"] = nlohmann::json::array();
  for (const auto& [k, v] : stages) j["stages"].push_back({{"name", k}, {"counter", v.to_json()}});
  j["rules"] = rules;
  for (size_t i = 0; i < kNumPiiTypes; ++i) j["pii"][pii_type_name(static_cast<PiiType>(i))] = pii[i];
  j["langs"] = langs;
  j["groups"] = groups;
  for (const auto& [b, c] : categories) j["categories"].push_back({b, c});
  j["n_utf8_repaired"] = n_utf8_repaired;
  j["exact_dedup"] = {{"docs", exact_dedup_docs}, {"memory_bytes", exact_dedup_bytes}};
  if (!perplexity.empty()) j["perplexity"] = perplexity;
  return j;
}

ShardStats ShardStats::from_json(const nlohmann::json& j) {
  ShardStats s;
  s.shard = j.value("shard", 0u);
  if (j.contains("total")) s.total = RecordStats::from_json(j["total"]);
  if (j.contains("sources")) {
    for (const auto& [k, v] : j["sources"].items()) s.sources[k] = RecordStats::from_json(v);
  }
  if (j.contains("stages")) {
    for (const auto& e : j["stages"]) s.stages.emplace_back(e.value("name", ""), StageCounter::from_json(e["counter"]));
  }
  s.rules = j.value("rules", std::map<std::string, uint64_t>{});
  for (size_t i = 0; i < kNumPiiTypes; ++i) {
    const char* n = pii_type_name(static_cast<PiiType>(i));
    if (j.contains("pii") && j["pii"].contains(n)) s.pii[i] = j["pii"][n].get<uint64_t>();
  }
  s.langs = j.value("langs", std::map<std::string, uint64_t>{});
  s.groups = j.value("groups", std::vector<std::string>{});
  if (j.contains("categories") && j["categories"].is_array()) {
    for (const auto& e : j["categories"]) {
      if (e.is_array() && e.size() == 2 && e[0].is_number_unsigned() && e[1].is_string()) {
        s.categories.emplace_back(e[0].get<uint32_t>(), e[1].get<std::string>());
      }
    }
  }
  s.n_utf8_repaired = j.value("n_utf8_repaired", uint64_t{0});
  if (j.contains("exact_dedup")) {
    s.exact_dedup_docs = j["exact_dedup"].value("docs", uint64_t{0});
    s.exact_dedup_bytes = j["exact_dedup"].value("memory_bytes", uint64_t{0});
  }
  if (j.contains("perplexity") && j["perplexity"].is_array()) {
    for (const auto& e : j["perplexity"]) s.perplexity.push_back(e);
  }
  return s;
}

nlohmann::json FinalStats::to_json(uint32_t shard) const {
  nlohmann::json j;
  j["shard"] = shard;
  j["total"] = total.to_json();
  for (const auto& [k, v] : sources) j["sources"][k] = v.to_json();
  j["near_dedup"] = near_dedup.to_json();
  j["plan"]["total_bytes"] = plan.total_bytes;
  j["plan"]["note"] = plan.note;
  for (const auto& [g, gp] : plan.groups) {
    j["plan"]["groups"][g] = {{"target_share", gp.target_share},
                              {"input_bytes", gp.input_bytes},
                              {"input_docs", gp.input_docs},
                              {"rate", gp.rate}};
  }
  for (const auto& [g, o] : output) j["output"][g] = {{"docs", o.first}, {"bytes", o.second}};
  for (const auto& [scope, b] : balance) {
    nlohmann::json& bj = j["balance"][scope];
    bj = {{"field", b.field}, {"unit", b.unit}, {"note", b.note}, {"categories", nlohmann::json::object()}};
    for (const auto& [c, cs] : b.categories) {
      bj["categories"][c] = {{"target_share", cs.plan.target_share},   {"input_bytes", cs.plan.input_bytes},
                             {"input_docs", cs.plan.input_docs},       {"rate", cs.plan.rate},
                             {"kept", cs.kept},                        {"output_docs", cs.output_docs},
                             {"output_bytes", cs.output_bytes},        {"dropped_balance", cs.dropped_balance},
                             {"dropped_mixing", cs.dropped_mixing}};
    }
  }
  return j;
}

FinalStats FinalStats::from_json(const nlohmann::json& j) {
  FinalStats f;
  if (j.contains("total")) f.total = RecordStats::from_json(j["total"]);
  if (j.contains("sources")) {
    for (const auto& [k, v] : j["sources"].items()) f.sources[k] = RecordStats::from_json(v);
  }
  if (j.contains("near_dedup")) f.near_dedup = StageCounter::from_json(j["near_dedup"]);
  if (j.contains("plan")) {
    f.plan.total_bytes = j["plan"].value("total_bytes", 0.0);
    f.plan.note = j["plan"].value("note", "");
    if (j["plan"].contains("groups")) {
      for (const auto& [g, v] : j["plan"]["groups"].items()) {
        f.plan.groups[g] = {.target_share = v.value("target_share", 0.0),
                            .input_bytes = v.value("input_bytes", uint64_t{0}),
                            .input_docs = v.value("input_docs", uint64_t{0}),
                            .rate = v.value("rate", 0.0)};
      }
    }
  }
  if (j.contains("output")) {
    for (const auto& [g, v] : j["output"].items()) {
      f.output[g] = {v.value("docs", uint64_t{0}), v.value("bytes", uint64_t{0})};
    }
  }
  if (j.contains("balance")) {
    for (const auto& [scope, bj] : j["balance"].items()) {
      BalanceStats& b = f.balance[scope];
      b.field = bj.value("field", ""), b.unit = bj.value("unit", ""), b.note = bj.value("note", "");
      if (!bj.contains("categories")) continue;
      for (const auto& [c, v] : bj["categories"].items()) {
        BalanceCategoryStats& cs = b.categories[c];
        cs.plan = {.target_share = v.value("target_share", 0.0),
                   .input_bytes = v.value("input_bytes", uint64_t{0}),
                   .input_docs = v.value("input_docs", uint64_t{0}),
                   .rate = v.value("rate", 0.0)};
        cs.kept = v.value("kept", uint64_t{0}), cs.output_docs = v.value("output_docs", uint64_t{0});
        cs.output_bytes = v.value("output_bytes", uint64_t{0});
        cs.dropped_balance = v.value("dropped_balance", uint64_t{0});
        cs.dropped_mixing = v.value("dropped_mixing", uint64_t{0});
      }
    }
  }
  return f;
}

std::vector<std::string> list_stage_files(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  std::vector<std::pair<uint64_t, std::string>> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(suffix) || name.size() <= prefix.size() + suffix.size()) continue;
    const std::string mid = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (mid.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoull(mid), e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

}  // namespace anvil::data
