// The prep stages (prep.h): filter, buckets, cluster, finalize, and the orchestration of all of them.
// Every record is accounted for: readers count inputs and bad records, each stage here counts its
// drops by DropReason, later stages' drops move records from kept to dropped in the report.
#include "anvil/data/prep.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "anvil/base/file.h"
#include "anvil/data/prep_stats.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kIndexMagic[8] = {'A', 'N', 'V', 'L', 'P', 'I', 'X', '1'};
constexpr int kGidShardShift = 40;  // global id = shard << 40 | ordinal of the kept record in its shard

std::string work(const PrepConfig& cfg, const std::string& name) { return (fs::path(cfg.work_dir) / name).string(); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool in_list(const std::vector<Lang>& l, Lang x) {
  for (Lang y : l) {
    if (y == x) return true;
  }
  return false;
}

Status run_filter(const PrepConfig& cfg, ShardSpec shard, const Context& ctx) {
  std::error_code ec;
  fs::create_directories(cfg.work_dir, ec);
  if (ec) return io_error("[prep.filter] cannot create work dir '{}': {}", cfg.work_dir, ec.message());
  ShardStats st;
  st.shard = shard.index;
  AtomicFileWriter kept_out;
  ANVIL_RETURN_IF_ERROR(kept_out.open(work(cfg, fmt::format("kept.{}.jsonl", shard.index))));
  SignatureWriter sigs;
  ANVIL_RETURN_IF_ERROR(sigs.open(work(cfg, fmt::format("sig.{}.bin", shard.index)), cfg.minhash.n_bands));
  std::vector<uint64_t> index;  // (gid, group index, bytes) per kept record
  ExactDedup exact;
  const MinHasher mh(cfg.minhash);
  std::vector<uint64_t> sig(static_cast<size_t>(mh.n_hashes())), keys(static_cast<size_t>(mh.n_bands()));
  KnLm lm(cfg.perplexity_lm);
  if (cfg.perplexity) {
    const auto t_lm = Clock::now();
    if (cfg.perplexity_reference.empty()) return invalid_argument("[prep.filter] perplexity needs reference files");
    for (const auto& ref : cfg.perplexity_reference) {
      ANVIL_ASSIGN_OR_RETURN(auto r, DocumentReader::open(ref, {.text_unit = TextUnit::kFile}));
      Document d;
      for (;;) {
        ANVIL_ASSIGN_OR_RETURN(bool more, r->next(d));
        if (!more) break;
        lm.add_text(d.text);
      }
    }
    ANVIL_RETURN_IF_ERROR(lm.finish());
    ctx.log->info("[prep.filter] perplexity model: order {}, {} words, trained in {:.1f} s", lm.order(),
                  lm.vocab_size(), seconds_since(t_lm));
  }
  uint64_t ordinal = 0;
  std::string line;
  for (const PrepInput& in : cfg.inputs) {
    ReaderOptions ro = in.reader;
    ro.shard_index = shard.index, ro.n_shards = shard.count;
    if (ro.source.empty()) ro.source = fs::path(in.path).filename().string();
    const std::string label = ro.source;
    size_t group_idx = std::find(st.groups.begin(), st.groups.end(), in.group) - st.groups.begin();
    if (group_idx == st.groups.size()) st.groups.push_back(in.group);
    auto t_file = Clock::now();
    ANVIL_ASSIGN_OR_RETURN(auto reader, DocumentReader::open(in.path, ro));
    RecordStats& src = st.sources[label];
    NormalizeOptions norm = cfg.normalize;
    if (!in.language_filter) norm.keep_languages.clear();
    Document doc;
    // `rule` is counted in the report's rules; `note` only annotates the example.
    auto drop = [&](DropReason r, const std::string& rule, const std::string& note = "") {
      const std::string detail = note.empty() ? rule : rule + ": " + note;
      const std::string where = detail.empty() ? doc.id : doc.id + " (" + detail + ")";
      st.total.add_dropped(r, doc.text, where);
      src.add_dropped(r, doc.text, where);
      if (!rule.empty()) ++st.rules[rule];
    };
    for (;;) {
      auto t = Clock::now();
      ANVIL_ASSIGN_OR_RETURN(bool more, reader->next(doc));
      if (!more) break;
      st.stage("read").add(doc.text.size(), doc.text.size(), seconds_since(t));

      t = Clock::now();
      size_t before = doc.text.size();
      const NormalizeResult nr = normalize_document(doc.text, norm);
      ++st.langs[lang_name(nr.lang)];
      if (nr.n_invalid_utf8 > 0) st.n_utf8_repaired += nr.drop ? 0 : 1;
      st.stage("normalize").add(before, nr.drop ? 0 : doc.text.size(), seconds_since(t), !nr.drop);
      if (nr.drop) {
        drop(*nr.drop, "");
        continue;
      }

      if (cfg.exact_dedup) {
        t = Clock::now();
        const bool first = exact.insert_text(doc.text);
        st.stage("exact_dedup").add(doc.text.size(), first ? doc.text.size() : 0, seconds_since(t), first);
        if (!first) {
          drop(DropReason::kExactDuplicate, "");
          continue;
        }
      }

      if (in.quality && in_list(cfg.quality_languages, nr.lang)) {
        t = Clock::now();
        before = doc.text.size();
        std::optional<std::string> why;
        DropReason reason = DropReason::kGopherQuality;
        if (cfg.gopher_quality) why = gopher_quality(doc.text, cfg.gopher_quality_options);
        if (!why && cfg.gopher_repetition) {
          why = gopher_repetition(doc.text, cfg.gopher_repetition_options);
          reason = DropReason::kGopherRepetition;
        }
        if (!why && cfg.c4) {
          why = c4_filter(doc.text, cfg.c4_options);
          reason = DropReason::kC4;
        }
        st.stage("quality").add(before, why ? 0 : doc.text.size(), seconds_since(t), !why);
        if (why) {
          drop(reason, *why);
          continue;
        }
      }

      if (cfg.perplexity && in.quality && in_list(cfg.perplexity_languages, nr.lang)) {
        t = Clock::now();
        const double pp = lm.perplexity(doc.text);
        const bool keep = pp <= cfg.max_perplexity;
        st.stage("perplexity").add(doc.text.size(), keep ? doc.text.size() : 0, seconds_since(t), keep);
        if (!keep) {
          drop(DropReason::kPerplexity, "perplexity_above_max", fmt::format("{:.1f} > {}", pp, cfg.max_perplexity));
          continue;
        }
      }

      if (cfg.pii) {
        t = Clock::now();
        before = doc.text.size();
        const PiiResult pr = apply_pii(doc.text, cfg.pii_options);
        for (size_t k = 0; k < kNumPiiTypes; ++k) st.pii[k] += pr.n_found[k];
        st.stage("pii").add(before, pr.drop ? 0 : doc.text.size(), seconds_since(t), !pr.drop);
        if (pr.drop) {
          drop(DropReason::kPii, "");
          continue;
        }
      }

      const uint64_t gid = (static_cast<uint64_t>(shard.index) << kGidShardShift) | ordinal++;
      if (cfg.near_dedup && in.near_dedup) {
        t = Clock::now();
        if (mh.signature(doc.text, sig)) {
          mh.band_keys(sig, keys);
          ANVIL_RETURN_IF_ERROR(sigs.add(gid, keys));
        }
        st.stage("minhash").add(doc.text.size(), doc.text.size(), seconds_since(t));
      }
      index.insert(index.end(), {gid, group_idx, doc.text.size()});
      doc.meta["lang"] = lang_name(nr.lang);
      line = nlohmann::json{{"id", doc.id},
                            {"text", doc.text},
                            {"source", doc.source.empty() ? label : doc.source},
                            {"meta", doc.meta},
                            {"_gid", gid},
                            {"_group", in.group},
                            {"_src", label}}
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      line += '\n';
      ANVIL_RETURN_IF_ERROR(kept_out.write(line.data(), line.size()));
      st.total.add_kept(doc.text.size());
      src.add_kept(doc.text.size());
    }
    st.total.merge(reader->stats());  // inputs and bad records, counted by the reader
    src.merge(reader->stats());
    ctx.log->info("[prep.filter] shard {}/{}: '{}' done: {} records in {:.1f} s", shard.index, shard.count, in.path,
                  reader->stats().n_input, seconds_since(t_file));
  }
  st.exact_dedup_bytes = exact.memory_bytes();
  st.exact_dedup_docs = exact.size();
  ANVIL_RETURN_IF_ERROR(kept_out.commit());
  ANVIL_RETURN_IF_ERROR(sigs.finalize());
  std::string idx(kIndexMagic, 8);
  idx.append(reinterpret_cast<const char*>(index.data()), index.size() * 8);
  ANVIL_RETURN_IF_ERROR(write_file_atomic(work(cfg, fmt::format("index.{}.bin", shard.index)), idx));
  return write_file_atomic(work(cfg, fmt::format("stats.{}.json", shard.index)), st.to_json().dump(1));
}

std::vector<std::string> work_files(const PrepConfig& cfg, const std::string& prefix, const std::string& suffix) {
  return list_stage_files(cfg.work_dir, prefix, suffix);
}

Status run_finalize(const PrepConfig& cfg, ShardSpec shard, const Context& ctx) {
  std::unordered_set<uint64_t> removed;
  if (cfg.near_dedup) {
    ANVIL_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, read_removals(work(cfg, "remove.bin")));
    removed.insert(ids.begin(), ids.end());
  }
  // Group totals after near-dedup, over every shard, from the index files.
  std::map<std::string, std::pair<uint64_t, uint64_t>> group_bytes_docs;
  const auto stats_files = work_files(cfg, "stats.", ".json");
  if (stats_files.empty()) return not_found("[prep.finalize] no stats.*.json in '{}': run the filter stage first", cfg.work_dir);
  for (const auto& sp : stats_files) {
    ANVIL_ASSIGN_OR_RETURN(std::string js, read_file(sp));
    const auto j = nlohmann::json::parse(js, nullptr, false);
    if (j.is_discarded() || !j.contains("shard")) return invalid_argument("[prep.finalize] '{}' is not a stats file", sp);
    const auto groups = j.value("groups", std::vector<std::string>{});
    const std::string ip = work(cfg, fmt::format("index.{}.bin", j["shard"].get<uint64_t>()));
    ANVIL_ASSIGN_OR_RETURN(std::string ib, read_file(ip));
    if (ib.size() < 8 || std::memcmp(ib.data(), kIndexMagic, 8) != 0 || (ib.size() - 8) % 24 != 0) {
      return invalid_argument("[prep.finalize] '{}' is not an index file", ip);
    }
    for (size_t off = 8; off < ib.size(); off += 24) {
      uint64_t rec[3];
      std::memcpy(rec, ib.data() + off, 24);
      if (removed.count(rec[0]) || rec[1] >= groups.size()) continue;
      auto& bd = group_bytes_docs[groups[rec[1]]];
      bd.first += rec[2], ++bd.second;
    }
  }
  MixPlan plan;
  if (cfg.mix) {
    ANVIL_ASSIGN_OR_RETURN(plan, plan_mixture(group_bytes_docs, cfg.mix_options));
  } else {
    for (const auto& [g, bd] : group_bytes_docs) plan.groups[g] = {.input_bytes = bd.first, .input_docs = bd.second, .rate = 1.0};
  }
  FinalStats fin;
  fin.plan = plan;
  const std::string out_path = shard.count == 1 ? cfg.output : fmt::format("{}.{}", cfg.output, shard.index);
  if (fs::path(out_path).has_parent_path()) fs::create_directories(fs::path(out_path).parent_path());
  AtomicFileWriter out;
  ANVIL_RETURN_IF_ERROR(out.open(out_path));
  const std::string kept_path = work(cfg, fmt::format("kept.{}.jsonl", shard.index));
  std::ifstream kept(kept_path);
  if (!kept) return not_found("[prep.finalize] cannot open '{}': run the filter stage for shard {}", kept_path, shard.index);
  std::string line;
  uint64_t line_no = 0;
  while (std::getline(kept, line)) {
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("_gid")) {
      return invalid_argument("[prep.finalize] '{}':{}: corrupt work record", kept_path, line_no);
    }
    const uint64_t gid = j["_gid"].get<uint64_t>();
    const std::string group = j["_group"].get<std::string>(), src = j["_src"].get<std::string>();
    const std::string id = j["id"].get<std::string>(), text = j["text"].get<std::string>();
    auto t = Clock::now();
    if (removed.count(gid)) {
      fin.total.add_dropped(DropReason::kNearDuplicate, text, id);
      fin.sources[src].add_dropped(DropReason::kNearDuplicate, text, id);
      fin.near_dedup.add(text.size(), 0, seconds_since(t), false);
      continue;
    }
    fin.near_dedup.add(text.size(), text.size(), seconds_since(t));
    const uint32_t copies = cfg.mix ? mix_copies(plan, group, id, cfg.mix_options.seed) : 1;
    if (copies == 0) {
      fin.total.add_dropped(DropReason::kMixingDownsample, text, id);
      fin.sources[src].add_dropped(DropReason::kMixingDownsample, text, id);
      continue;
    }
    j.erase("_gid"), j.erase("_group"), j.erase("_src");
    for (uint32_t c = 0; c < copies; ++c) {
      if (c > 0) j["id"] = fmt::format("{}#copy{}", id, c);
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      ANVIL_RETURN_IF_ERROR(out.write(line.data(), line.size()));
      auto& o = fin.output[group];
      ++o.first, o.second += text.size();
    }
  }
  ANVIL_RETURN_IF_ERROR(out.commit());
  ctx.log->info("[prep.finalize] shard {}/{}: wrote '{}'", shard.index, shard.count, out_path);
  return write_file_atomic(work(cfg, fmt::format("final.{}.json", shard.index)), fin.to_json(shard.index).dump(1));
}

}  // namespace

Result<PrepStage> parse_prep_stage(const std::string& s) {
  static const std::pair<const char*, PrepStage> kNames[] = {
      {"all", PrepStage::kAll},           {"filter", PrepStage::kFilter},     {"buckets", PrepStage::kBuckets},
      {"cluster", PrepStage::kCluster},   {"finalize", PrepStage::kFinalize}, {"report", PrepStage::kReport}};
  for (const auto& [n, st] : kNames) {
    if (s == n) return st;
  }
  return invalid_argument("[prep] unknown stage '{}' (expected all|filter|buckets|cluster|finalize|report)", s);
}

Status run_prep(const PrepConfig& cfg, PrepStage stage, ShardSpec shard, const Context& ctx) {
  if (shard.count == 0 || shard.index >= shard.count) {
    return invalid_argument("[prep] shard {}/{} is not valid (need 0 <= i < N)", shard.index, shard.count);
  }
  if ((stage == PrepStage::kAll || stage == PrepStage::kCluster || stage == PrepStage::kReport) && shard.count != 1) {
    return invalid_argument("[prep] stage '{}' runs in one process; drop --shard",
                            stage == PrepStage::kAll ? "all" : stage == PrepStage::kCluster ? "cluster" : "report");
  }
  if (cfg.inputs.empty()) return invalid_argument("[prep] no [[input]] in the config");
  const auto t0 = Clock::now();
  switch (stage) {
    case PrepStage::kFilter: return run_filter(cfg, shard, ctx);
    case PrepStage::kBuckets:
      if (!cfg.near_dedup) return ok_status();
      return build_band_pairs(work_files(cfg, "sig.", ".bin"), static_cast<int>(shard.index),
                              static_cast<int>(shard.count), work(cfg, fmt::format("pairs.{}.bin", shard.index)));
    case PrepStage::kCluster: {
      if (!cfg.near_dedup) return ok_status();
      ANVIL_ASSIGN_OR_RETURN(auto removed, cluster_pairs(work_files(cfg, "pairs.", ".bin"), work(cfg, "remove.bin")));
      ctx.log->info("[prep.cluster] {} near-duplicates to remove", removed.size());
      return ok_status();
    }
    case PrepStage::kFinalize: return run_finalize(cfg, shard, ctx);
    case PrepStage::kReport: return write_prep_report(cfg).status();
    case PrepStage::kAll: break;
  }
  // One process: clear stale stage files, then every stage in order.
  std::error_code ec;
  for (const char* pre : {"kept.", "sig.", "index.", "stats.", "pairs.", "final."}) {
    for (const auto& p : work_files(cfg, pre, std::string(pre) == "kept." ? ".jsonl"
                                              : std::string(pre) == "stats." || std::string(pre) == "final." ? ".json"
                                                                                                              : ".bin")) {
      fs::remove(p, ec);
    }
  }
  for (PrepStage s : {PrepStage::kFilter, PrepStage::kBuckets, PrepStage::kCluster, PrepStage::kFinalize}) {
    ANVIL_RETURN_IF_ERROR(run_prep(cfg, s, {}, ctx));
  }
  ANVIL_ASSIGN_OR_RETURN(auto report, write_prep_report(cfg));
  ctx.log->info("[prep] done in {:.1f} s: {} records in, {} kept", seconds_since(t0),
                report["totals"]["n_input"].get<uint64_t>(), report["totals"]["n_kept"].get<uint64_t>());
  return ok_status();
}

}  // namespace anvil::data
