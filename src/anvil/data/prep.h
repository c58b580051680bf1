// `anvil prep`: the data pipeline as shard-parallel stages over files in a work directory
// (docs/data.md §prep, report format docs/formats/prep_report.md):
//   filter   (per shard i/N)  read → normalize → exact dedup → quality → PII → MinHash signatures;
//                             writes kept.<i>.jsonl, sig.<i>.bin, index.<i>.bin, stats.<i>.json
//   buckets  (per worker j/N) LSH band buckets → pairs.<j>.bin
//   cluster  (one process)    union-find → remove.bin
//   finalize (per shard i/N)  near-dup removal, category balance + mixing plans over all shards,
//                             output (+ final.<i>.json)
//   report   (one process)    prep_report.json + prep_report.html
// Invariant (checked by the report stage): input records = kept + Σ dropped, per source and in total.
#pragma once

#include <string>
#include <vector>

#include "anvil/base/context.h"
#include "anvil/base/status.h"
#include "anvil/data/arpa_lm.h"
#include "anvil/data/dedup.h"
#include "anvil/data/kn_lm.h"
#include "anvil/data/mixing.h"
#include "anvil/data/normalize.h"
#include "anvil/data/pii.h"
#include "anvil/data/quality.h"
#include "anvil/data/reader.h"

namespace anvil::data {

struct PrepInput {
  std::string path;
  ReaderOptions reader;  // reader.source labels the input in the report (defaults to the file name)
  std::string group = "general";
  bool language_filter = true;  // false: normalize.languages does not apply (e.g. synthetic tasks)
  bool quality = true;          // false: skip the quality heuristics (short synthetic documents)
  bool near_dedup = true;       // false: no MinHash for this input (templated tasks look alike to it)
};

struct PrepConfig {
  std::vector<PrepInput> inputs;
  std::string output;    // kept documents, JSONL; with N shards, "<output>.<i>"
  std::string work_dir;  // stage files
  std::string report;    // prep_report.json path; the HTML page goes beside it (.html)
  NormalizeOptions normalize;
  bool exact_dedup = true;
  bool near_dedup = true;
  MinHashOptions minhash;
  bool pii = true;
  PiiOptions pii_options;
  std::vector<Lang> quality_languages = {Lang::kEn};  // heuristics apply to these languages only
  bool gopher_quality = true, gopher_repetition = true, c4 = true;
  GopherQualityOptions gopher_quality_options;
  GopherRepetitionOptions gopher_repetition_options;
  C4Options c4_options;
  // CCNet-style perplexity filter on documents in `perplexity_languages` (drop reason perplexity). The
  // model: an ARPA file (`perplexity_model`, from `anvil lm train`, loaded once per filter process) or
  // else a KN model trained in each filter process on the reference files. The cut: with
  // keep_percentile = 0, documents scoring above max_perplexity go; with keep_percentile = p in (0, 1],
  // each filter shard keeps its documents at or below the nearest-rank p-th percentile of the
  // perplexities it scored (CCNet's head = 0.3, head+middle = 0.6) and max_perplexity is not used.
  // Percentile mode scores the shard's candidates first (spilling them to pp_pending.<i>.jsonl, keeping
  // only the scores in memory, 8 bytes per document), then decides: the threshold is per shard because
  // readers deal records round-robin to shards, so each shard is a uniform sample of the corpus and its
  // percentile estimates the global one without a cross-shard pass. The threshold used is reported.
  bool perplexity = false;
  std::vector<std::string> perplexity_reference;
  std::string perplexity_model;
  KnOptions perplexity_lm;
  double max_perplexity = 1000.0;
  double keep_percentile = 0.0;
  std::vector<Lang> perplexity_languages = {Lang::kEn};
  bool mix = true;
  MixOptions mix_options;
  // [[balance]]: per group or source, target shares over the values of a category field, reached in
  // finalize before mixing (drop reason category_downsample); at most one spec per scope.
  std::vector<BalanceSpec> balance;
};

enum class PrepStage { kAll, kFilter, kBuckets, kCluster, kFinalize, kReport };
Result<PrepStage> parse_prep_stage(const std::string& s);

struct ShardSpec {
  uint32_t index = 0, count = 1;
};

// Runs one stage (or all of them in order when stage == kAll, which requires shard.count == 1).
Status run_prep(const PrepConfig& cfg, PrepStage stage, ShardSpec shard, const Context& ctx);

// The nearest-rank p-quantile of `scores` (p in (0, 1]): the ceil(p·n)-th smallest; 0 when empty.
double percentile_threshold(std::vector<double> scores, double p);

// The report stage alone: merges the shards' stats files; returns the report JSON it wrote.
Result<nlohmann::json> write_prep_report(const PrepConfig& cfg);
std::string prep_report_html(const nlohmann::json& report);

}  // namespace anvil::data
