// The prep stages (prep.h): filter, buckets, cluster, finalize, and the orchestration of all of them.
// Every record is accounted for: readers count inputs and bad records, each stage here counts its
// drops by DropReason, later stages' drops move records from kept to dropped in the report.
#include "anvil/data/prep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "anvil/base/file.h"
#include "anvil/data/prep_stats.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// index.<i>.bin: magic, then per kept record (gid, group index, bytes, category index or kNoCategoryIndex).
constexpr char kIndexMagic[8] = {'A', 'N', 'V', 'L', 'P', 'I', 'X', '2'};
constexpr size_t kIndexWords = 4;
constexpr uint64_t kNoCategoryIndex = ~uint64_t{0};
constexpr int kGidShardShift = 40;  // global id = shard << 40 | ordinal of the kept record in its shard
constexpr uint64_t kBalanceSeedSalt = 0xba1a2ce5ull;  // balance draws are independent of the mixing draws

std::string work(const PrepConfig& cfg, const std::string& name) { return (fs::path(cfg.work_dir) / name).string(); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The [[balance]] spec that covers an input (label = its source label): a source scope wins over a
// group scope; -1 when none does.
int balance_of(const PrepConfig& cfg, const std::string& label, const std::string& group) {
  for (size_t b = 0; b < cfg.balance.size(); ++b) {
    if (cfg.balance[b].source == label) return static_cast<int>(b);
  }
  for (size_t b = 0; b < cfg.balance.size(); ++b) {
    if (cfg.balance[b].source.empty() && cfg.balance[b].group == group) return static_cast<int>(b);
  }
  return -1;
}

std::string input_label(const PrepInput& in) {
  return in.reader.source.empty() ? fs::path(in.path).filename().string() : in.reader.source;
}

bool in_list(const std::vector<Lang>& l, Lang x) {
  for (Lang y : l) {
    if (y == x) return true;
  }
  return false;
}

// The filter's perplexity model: a loaded ARPA file, or a KN model trained on the reference files.
struct PerplexityModel {
  std::optional<ArpaLm> arpa;
  std::optional<KnLm> kn;
  std::string describe;
  double perplexity(std::string_view text) const { return arpa ? arpa->perplexity(text) : kn->perplexity(text); }
};

Result<PerplexityModel> load_perplexity_model(const PrepConfig& cfg, const Context& ctx) {
  PerplexityModel m;
  if (!cfg.perplexity) return m;
  const auto t = Clock::now();
  if (!cfg.perplexity_model.empty()) {
    ANVIL_ASSIGN_OR_RETURN(ArpaLm lm, ArpaLm::load(cfg.perplexity_model));
    m.describe = fmt::format("{} (ARPA, order {}, {} words)", cfg.perplexity_model, lm.order(), lm.vocab_size());
    m.arpa = std::move(lm);
  } else {
    if (cfg.perplexity_reference.empty()) {
      return invalid_argument("[prep.filter] perplexity needs a model file or reference files");
    }
    KnLm& lm = m.kn.emplace(cfg.perplexity_lm);
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
    m.describe = fmt::format("KN order {} trained on {} reference file(s), {} words", lm.order(),
                             cfg.perplexity_reference.size(), lm.vocab_size());
  }
  ctx.log->info("[prep.filter] perplexity model: {}, ready in {:.1f} s", m.describe, seconds_since(t));
  return m;
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
  std::vector<uint64_t> index;  // kIndexWords per kept record
  std::map<std::pair<uint32_t, std::string>, uint64_t> category_index;  // (balance spec, category) → index
  ExactDedup exact;
  const MinHasher mh(cfg.minhash);
  std::vector<uint64_t> sig(static_cast<size_t>(mh.n_hashes())), keys(static_cast<size_t>(mh.n_bands()));
  ANVIL_ASSIGN_OR_RETURN(PerplexityModel lm, load_perplexity_model(cfg, ctx));
  const bool percentile = cfg.perplexity && cfg.keep_percentile > 0;
  std::vector<double> pp_scores;  // percentile mode: every score of this shard, in order
  double pp_seconds = 0;
  const std::string pending_path = work(cfg, fmt::format("pp_pending.{}.jsonl", shard.index));
  std::ofstream pending;
  if (percentile) {
    pending.open(pending_path, std::ios::binary | std::ios::trunc);
    if (!pending) return io_error("[prep.filter] cannot write '{}'", pending_path);
  }
  struct InputInfo {
    std::string label;
    size_t group_idx = 0;
    int balance = -1;  // index into cfg.balance, -1 = not balanced
  };
  std::vector<InputInfo> infos;
  uint64_t ordinal = 0;
  std::string line;
  // `rule` is counted in the report's rules; `note` only annotates the example.
  auto drop = [&](const Document& doc, RecordStats& src, DropReason r, const std::string& rule,
                  const std::string& note = "") {
    const std::string detail = note.empty() ? rule : rule + ": " + note;
    const std::string where = detail.empty() ? doc.id : doc.id + " (" + detail + ")";
    st.total.add_dropped(r, doc.text, where);
    src.add_dropped(r, doc.text, where);
    if (!rule.empty()) ++st.rules[rule];
  };
  // The stages after the perplexity filter: PII, MinHash signature, the kept record.
  auto keep = [&](Document& doc, size_t input, Lang lang) -> Status {
    const PrepInput& in = cfg.inputs[input];
    const InputInfo& info = infos[input];
    RecordStats& src = st.sources[info.label];
    if (cfg.pii) {
      const auto t = Clock::now();
      const size_t before = doc.text.size();
      const PiiResult pr = apply_pii(doc.text, cfg.pii_options);
      for (size_t k = 0; k < kNumPiiTypes; ++k) st.pii[k] += pr.n_found[k];
      st.stage("pii").add(before, pr.drop ? 0 : doc.text.size(), seconds_since(t), !pr.drop);
      if (pr.drop) {
        drop(doc, src, DropReason::kPii, "");
        return ok_status();
      }
    }
    const uint64_t gid = (static_cast<uint64_t>(shard.index) << kGidShardShift) | ordinal++;
    if (cfg.near_dedup && in.near_dedup) {
      const auto t = Clock::now();
      if (mh.signature(doc.text, sig)) {
        mh.band_keys(sig, keys);
        ANVIL_RETURN_IF_ERROR(sigs.add(gid, keys));
      }
      st.stage("minhash").add(doc.text.size(), doc.text.size(), seconds_since(t));
    }
    uint64_t cat = kNoCategoryIndex;
    if (info.balance >= 0) {
      const auto key = std::make_pair(static_cast<uint32_t>(info.balance), doc.category);
      auto [it, fresh] = category_index.emplace(key, st.categories.size());
      if (fresh) st.categories.push_back(key);
      cat = it->second;
    }
    index.insert(index.end(), {gid, info.group_idx, doc.text.size(), cat});
    doc.meta["lang"] = lang_name(lang);
    nlohmann::json rec = {{"id", doc.id},
                          {"text", doc.text},
                          {"source", doc.source.empty() ? info.label : doc.source},
                          {"meta", doc.meta},
                          {"_gid", gid},
                          {"_group", in.group},
                          {"_src", info.label}};
    if (info.balance >= 0) rec["_bal"] = info.balance, rec["_cat"] = doc.category;
    line = rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    ANVIL_RETURN_IF_ERROR(kept_out.write(line.data(), line.size()));
    st.total.add_kept(doc.text.size());
    src.add_kept(doc.text.size());
    return ok_status();
  };
  for (size_t input = 0; input < cfg.inputs.size(); ++input) {
    const PrepInput& in = cfg.inputs[input];
    ReaderOptions ro = in.reader;
    ro.shard_index = shard.index, ro.n_shards = shard.count;
    if (ro.source.empty()) ro.source = fs::path(in.path).filename().string();
    const std::string label = ro.source;
    size_t group_idx = std::find(st.groups.begin(), st.groups.end(), in.group) - st.groups.begin();
    if (group_idx == st.groups.size()) st.groups.push_back(in.group);
    const int balance = balance_of(cfg, label, in.group);
    if (balance >= 0) ro.category_field = cfg.balance[static_cast<size_t>(balance)].field;
    infos.push_back({.label = label, .group_idx = group_idx, .balance = balance});
    auto t_file = Clock::now();
    ANVIL_ASSIGN_OR_RETURN(auto reader, DocumentReader::open(in.path, ro));
    RecordStats& src = st.sources[label];
    NormalizeOptions norm = cfg.normalize;
    if (!in.language_filter) norm.keep_languages.clear();
    Document doc;
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
        drop(doc, src, *nr.drop, "");
        continue;
      }

      if (cfg.exact_dedup) {
        t = Clock::now();
        const bool first = exact.insert_text(doc.text);
        st.stage("exact_dedup").add(doc.text.size(), first ? doc.text.size() : 0, seconds_since(t), first);
        if (!first) {
          drop(doc, src, DropReason::kExactDuplicate, "");
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
          drop(doc, src, reason, *why);
          continue;
        }
      }

      if (cfg.perplexity && in.quality && in_list(cfg.perplexity_languages, nr.lang)) {
        t = Clock::now();
        const double pp = lm.perplexity(doc.text);
        if (percentile) {  // decided after the shard: spill the document with its score
          pp_seconds += seconds_since(t);
          pp_scores.push_back(pp);
          line = nlohmann::json{{"i", input}, {"id", doc.id}, {"text", doc.text}, {"source", doc.source},
                                {"meta", doc.meta}, {"lang", static_cast<int>(nr.lang)}, {"pp", pp},
                                {"cat", doc.category}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          pending << line << '\n';
          continue;
        }
        const bool pass = pp <= cfg.max_perplexity;
        st.stage("perplexity").add(doc.text.size(), pass ? doc.text.size() : 0, seconds_since(t), pass);
        if (!pass) {
          drop(doc, src, DropReason::kPerplexity, "perplexity_above_max",
               fmt::format("{:.1f} > {}", pp, cfg.max_perplexity));
          continue;
        }
      }
      ANVIL_RETURN_IF_ERROR(keep(doc, input, nr.lang));
    }
    st.total.merge(reader->stats());  // inputs and bad records, counted by the reader
    src.merge(reader->stats());
    ctx.log->info("[prep.filter] shard {}/{}: '{}' done: {} records in {:.1f} s", shard.index, shard.count, in.path,
                  reader->stats().n_input, seconds_since(t_file));
  }
  if (cfg.perplexity) {
    nlohmann::json pj = {{"shard", shard.index}, {"model", lm.describe}, {"languages", nlohmann::json::array()}};
    for (Lang l : cfg.perplexity_languages) pj["languages"].push_back(lang_name(l));
    if (percentile) {
      pending.close();
      if (!pending) return io_error("[prep.filter] writing '{}' failed", pending_path);
      const double threshold = percentile_threshold(pp_scores, cfg.keep_percentile);
      uint64_t n_dropped = 0;
      std::ifstream back(pending_path, std::ios::binary);
      if (!back) return io_error("[prep.filter] cannot read back '{}'", pending_path);
      uint64_t line_no = 0;
      Document doc;
      while (std::getline(back, line)) {
        ++line_no;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("pp") || j.value("i", cfg.inputs.size()) >= cfg.inputs.size()) {
          return internal_error("[prep.filter] '{}':{}: corrupt pending record", pending_path, line_no);
        }
        const size_t input = j["i"].get<size_t>();
        const double pp = j["pp"].get<double>();
        doc.id = j["id"].get<std::string>(), doc.text = j["text"].get<std::string>();
        doc.source = j["source"].get<std::string>(), doc.meta = std::move(j["meta"]);
        doc.category = j.value("cat", "");
        const bool pass = pp <= threshold;
        st.stage("perplexity").add(doc.text.size(), pass ? doc.text.size() : 0, 0.0, pass);
        if (!pass) {
          ++n_dropped;
          drop(doc, st.sources[infos[input].label], DropReason::kPerplexity, "perplexity_above_percentile",
               fmt::format("{:.1f} > {:.1f} (p{} of shard {})", pp, threshold, cfg.keep_percentile * 100, shard.index));
          continue;
        }
        ANVIL_RETURN_IF_ERROR(keep(doc, input, static_cast<Lang>(j["lang"].get<int>())));
      }
      if (line_no != pp_scores.size()) {
        return internal_error("[prep.filter] '{}' holds {} records, {} were scored", pending_path, line_no,
                              pp_scores.size());
      }
      back.close();
      std::error_code ec;
      fs::remove(pending_path, ec);
      st.stage("perplexity").seconds += pp_seconds;
      pj.update({{"mode", "percentile"}, {"keep_percentile", cfg.keep_percentile}, {"threshold", threshold},
                 {"n_scored", pp_scores.size()}, {"n_dropped", n_dropped}});
      ctx.log->info("[prep.filter] shard {}/{}: perplexity threshold {:.1f} (p{} of {} scored), {} dropped",
                    shard.index, shard.count, threshold, cfg.keep_percentile * 100, pp_scores.size(), n_dropped);
    } else {
      pj.update({{"mode", "max"}, {"threshold", cfg.max_perplexity}, {"n_scored", st.stage("perplexity").docs_in},
                 {"n_dropped", st.stage("perplexity").docs_in - st.stage("perplexity").docs_out}});
    }
    st.perplexity.push_back(std::move(pj));
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
  // Group totals after near-dedup, over every shard, from the index files; records of a balance scope
  // are summed per (spec, category, group) and enter the group totals at their balance rate.
  using BytesDocs = std::pair<uint64_t, uint64_t>;
  std::map<std::string, BytesDocs> group_bytes_docs;
  std::vector<std::map<std::string, BytesDocs>> category_bytes_docs(cfg.balance.size());
  std::map<std::tuple<uint32_t, std::string, std::string>, BytesDocs> balanced_in_group;
  const auto stats_files = work_files(cfg, "stats.", ".json");
  if (stats_files.empty()) return not_found("[prep.finalize] no stats.*.json in '{}': run the filter stage first", cfg.work_dir);
  for (const auto& sp : stats_files) {
    ANVIL_ASSIGN_OR_RETURN(std::string js, read_file(sp));
    const auto j = nlohmann::json::parse(js, nullptr, false);
    if (j.is_discarded() || !j.contains("shard")) return invalid_argument("[prep.finalize] '{}' is not a stats file", sp);
    const ShardStats shard_stats = ShardStats::from_json(j);
    const auto& groups = shard_stats.groups;
    const auto& categories = shard_stats.categories;
    const std::string ip = work(cfg, fmt::format("index.{}.bin", j["shard"].get<uint64_t>()));
    ANVIL_ASSIGN_OR_RETURN(std::string ib, read_file(ip));
    constexpr size_t kRecordBytes = kIndexWords * 8;
    if (ib.size() < 8 || std::memcmp(ib.data(), kIndexMagic, 8) != 0 || (ib.size() - 8) % kRecordBytes != 0) {
      return invalid_argument("[prep.finalize] '{}' is not an index file (version 2; rerun the filter stage)", ip);
    }
    for (size_t off = 8; off < ib.size(); off += kRecordBytes) {
      uint64_t rec[kIndexWords];
      std::memcpy(rec, ib.data() + off, kRecordBytes);
      if (removed.count(rec[0]) || rec[1] >= groups.size()) continue;
      BytesDocs* bd = &group_bytes_docs[groups[rec[1]]];
      if (rec[3] != kNoCategoryIndex) {
        if (rec[3] >= categories.size() || categories[rec[3]].first >= cfg.balance.size()) {
          return invalid_argument("[prep.finalize] '{}': category index {} is not in '{}' (config changed since the "
                                  "filter stage?)", ip, rec[3], sp);
        }
        const auto& [b, cat] = categories[rec[3]];
        auto& cbd = category_bytes_docs[b][cat];
        cbd.first += rec[2], ++cbd.second;
        bd = &balanced_in_group[{b, cat, groups[rec[1]]}];
      }
      bd->first += rec[2], ++bd->second;
    }
  }
  FinalStats fin;
  std::vector<MixPlan> balance_plans(cfg.balance.size());
  for (size_t b = 0; b < cfg.balance.size(); ++b) {
    const BalanceSpec& spec = cfg.balance[b];
    ANVIL_ASSIGN_OR_RETURN(balance_plans[b], plan_balance(category_bytes_docs[b], spec));
    BalanceStats& bs = fin.balance[spec.scope()];
    bs.field = spec.field, bs.unit = spec.unit == BalanceUnit::kDocs ? "docs" : "bytes";
    bs.note = balance_plans[b].note;
    for (const auto& [cat, cp] : balance_plans[b].groups) bs.categories[cat].plan = cp;
  }
  for (const auto& [key, bd] : balanced_in_group) {  // expected amounts after balancing
    const auto& [b, cat, group] = key;
    const double rate = balance_plans[b].groups.count(cat) ? balance_plans[b].groups.at(cat).rate : 0.0;
    auto& gbd = group_bytes_docs[group];
    gbd.first += static_cast<uint64_t>(std::llround(rate * static_cast<double>(bd.first)));
    gbd.second += static_cast<uint64_t>(std::llround(rate * static_cast<double>(bd.second)));
  }
  std::erase_if(group_bytes_docs, [](const auto& e) { return e.second.second == 0 && e.second.first == 0; });
  MixPlan plan;
  if (cfg.mix) {
    ANVIL_ASSIGN_OR_RETURN(plan, plan_mixture(group_bytes_docs, cfg.mix_options));
  } else {
    for (const auto& [g, bd] : group_bytes_docs) plan.groups[g] = {.input_bytes = bd.first, .input_docs = bd.second, .rate = 1.0};
  }
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
    BalanceCategoryStats* cs = nullptr;
    uint32_t balance_copies = 1;
    if (j.contains("_bal")) {
      const size_t b = j["_bal"].get<size_t>();
      const std::string cat = j.value("_cat", "");
      if (b >= cfg.balance.size()) {
        return invalid_argument("[prep.finalize] '{}':{}: balance spec {} is not in the config", kept_path, line_no, b);
      }
      cs = &fin.balance[cfg.balance[b].scope()].categories[cat];
      const double rate = balance_plans[b].groups.count(cat) ? balance_plans[b].groups.at(cat).rate : 0.0;
      balance_copies = stochastic_copies(rate, id, cfg.mix_options.seed ^ (kBalanceSeedSalt + b));
      j.erase("_bal"), j.erase("_cat");
      if (balance_copies == 0) {
        ++cs->dropped_balance;
        fin.total.add_dropped(DropReason::kCategoryDownsample, text, id);
        fin.sources[src].add_dropped(DropReason::kCategoryDownsample, text, id);
        continue;
      }
    }
    const uint32_t copies =
        cfg.mix ? mix_copies(plan, group, id, cfg.mix_options.seed, static_cast<double>(balance_copies)) : balance_copies;
    if (copies == 0) {
      if (cs) ++cs->dropped_mixing;
      fin.total.add_dropped(DropReason::kMixingDownsample, text, id);
      fin.sources[src].add_dropped(DropReason::kMixingDownsample, text, id);
      continue;
    }
    if (cs) ++cs->kept, cs->output_docs += copies, cs->output_bytes += copies * text.size();
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

double percentile_threshold(std::vector<double> scores, double p) {
  if (scores.empty()) return 0.0;
  std::sort(scores.begin(), scores.end());
  const double rank = std::ceil(p * static_cast<double>(scores.size()));  // nearest rank, 1-based
  const size_t k = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(scores.size())));
  return scores[k - 1];
}

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
  for (size_t b = 0; b < cfg.balance.size(); ++b) {
    const BalanceSpec& spec = cfg.balance[b];
    ANVIL_RETURN_IF_ERROR(validate_balance(spec));
    for (size_t o = 0; o < b; ++o) {
      if (cfg.balance[o].scope() == spec.scope()) {
        return invalid_argument("[prep.balance] {}: {} is already balanced by {}", spec.where, spec.scope(),
                                cfg.balance[o].where);
      }
    }
    bool covers = false;
    for (const PrepInput& in : cfg.inputs) covers |= balance_of(cfg, input_label(in), in.group) == static_cast<int>(b);
    if (!covers) {
      return invalid_argument("[prep.balance] {}: {} matches no [[input]] (source labels default to the file name)",
                              spec.where, spec.scope());
    }
  }
  if (cfg.perplexity && !(cfg.keep_percentile >= 0 && cfg.keep_percentile <= 1)) {
    return invalid_argument("[prep] perplexity keep_percentile = {} (expected 0 = off, or a fraction in (0, 1])",
                            cfg.keep_percentile);
  }
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
  static constexpr std::pair<const char*, const char*> kStageFiles[] = {
      {"kept.", ".jsonl"}, {"pp_pending.", ".jsonl"}, {"sig.", ".bin"},    {"index.", ".bin"},
      {"stats.", ".json"}, {"pairs.", ".bin"},        {"final.", ".json"}};
  for (const auto& [pre, suffix] : kStageFiles) {
    for (const auto& p : work_files(cfg, pre, suffix)) fs::remove(p, ec);
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
