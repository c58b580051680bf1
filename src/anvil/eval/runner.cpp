// The `anvil eval` runner: task specs, model loading, running tasks, the report (runner.h).
#include "anvil/eval/runner.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include "anvil/base/file.h"
#include "anvil/base/sysinfo.h"
#include "anvil/data/shards.h"
#include "anvil/eval/completer.h"
#include "anvil/eval/lm.h"
#include "anvil/eval/perplexity.h"
#include "anvil/eval/report.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/scheduler.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int64_t kDefaultSynthN = 50;

bool is_token_shard(const std::string& path) {
  auto f = MappedFile::open(path);
  return f.ok() && f->size() >= sizeof(data::kShardMagic) &&
         std::equal(data::kShardMagic, data::kShardMagic + 8, reinterpret_cast<const char*>(f->data()));
}

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The generative engine, built on first use (a second copy of the model for infer::Generator).
struct GenBackend {
  std::unique_ptr<infer::Generator> generator;
  std::unique_ptr<infer::Scheduler> scheduler;
  CompleteBatchFn complete;
  std::string name;
};

Status make_backend(const EvalConfig& cfg, const std::string& tok_path, LmScorer& lm, GenBackend& b) {
  if (b.complete) return ok_status();
  if (cfg.engine == GenEngine::kRecompute) {
    b.complete = one_at_a_time(recompute_completer(lm));
    b.name = "recompute (Transformer::logits on the growing sequence, no KV cache)";
    return ok_status();
  }
  ANVIL_ASSIGN_OR_RETURN(model::Transformer m, model::Transformer::load(cfg.model_dir));
  ANVIL_ASSIGN_OR_RETURN(tok::Tokenizer t, tok::load_tokenizer_json(tok_path));
  // Evaluation keeps the fp32 KV cache, so the kv engines score as the recompute one (Transformer::logits)
  // up to fp32 summation order; the f16 cache's rounding could flip a near-tie between them. (How requests
  // happen to be batched changes no logit bit with either cache: infer/packed_linear.h.)
  constexpr DType kEvalKvCache = DType::kF32;
  if (cfg.engine == GenEngine::kKvCache) {
    ANVIL_ASSIGN_OR_RETURN(infer::Generator g,
                           infer::Generator::create(std::move(m), std::move(t), {.kv_dtype = kEvalKvCache}));
    b.generator = std::make_unique<infer::Generator>(std::move(g));
    b.complete = one_at_a_time(generator_completer(*b.generator));
    b.name = "infer::Generator (KV cache, one sequence at a time)";
    return ok_status();
  }
  ANVIL_ASSIGN_OR_RETURN(b.scheduler, infer::Scheduler::create(std::move(m), std::move(t),
                                                               {.max_running = cfg.max_batch,
                                                                .max_queue = std::max<int64_t>(64, cfg.max_batch),
                                                                .kv_dtype = kEvalKvCache}));
  b.complete = scheduler_completer(*b.scheduler);
  b.name = fmt::format("infer::Scheduler (KV cache, continuous batching of {} sequences)", cfg.max_batch);
  return ok_status();
}

// "mmlu:mmlu", "ppl:val.tok": the kind and the last path component (the report keeps the full spec).
std::string short_name(const TaskSpec& t) {
  if (t.kind == TaskKind::kSynth) return t.name;
  std::string arg = t.arg;
  while (arg.size() > 1 && arg.back() == '/') arg.pop_back();
  const std::string base = fs::path(arg).filename().string();
  const std::string kind = t.name.substr(0, t.name.find(':'));
  return kind + ":" + (base.empty() ? arg : base) + (t.split.empty() ? "" : "@" + t.split);
}

}  // namespace

Result<TaskSpec> parse_task_spec(const std::string& spec) {
  if (spec == "speed") return invalid_argument("[eval.tasks] speed is measured by default (--no-speed turns it off)");
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || colon + 1 == spec.size()) {
    return invalid_argument("[eval.tasks] '{}' is not KIND:ARG (ppl:PATH, mmlu:DIR, ceval:DIR, mcjsonl:FILE, "
                            "gsm8k:FILE[@SHOTS_FILE], synth:arithmetic|word|logic|mix)", spec);
  }
  const std::string kind = spec.substr(0, colon);
  TaskSpec t{.arg = spec.substr(colon + 1), .name = spec};
  if (kind == "ppl") {
    t.kind = TaskKind::kPpl;
  } else if (kind == "mmlu" || kind == "ceval") {
    t.kind = kind == "mmlu" ? TaskKind::kMmlu : TaskKind::kCeval;
    if (const size_t at = t.arg.rfind('@'); at != std::string::npos) {
      t.split = t.arg.substr(at + 1);
      t.arg.resize(at);
      if (t.split != "dev" && t.split != "val" && t.split != "test") {
        return invalid_argument("[eval.tasks] '{}': split '{}' is not dev|val|test", spec, t.split);
      }
    }
  } else if (kind == "mcjsonl") {
    t.kind = TaskKind::kMcJsonl;
  } else if (kind == "gsm8k") {
    t.kind = TaskKind::kGsm8k;
    if (const size_t at = t.arg.rfind('@'); at != std::string::npos) {
      t.shot_pool = t.arg.substr(at + 1);
      t.arg.resize(at);
      if (t.shot_pool.empty()) return invalid_argument("[eval.tasks] '{}': nothing after '@' (expected a shots file)", spec);
    }
  } else if (kind == "synth") {
    t.kind = TaskKind::kSynth;
    ANVIL_RETURN_IF_ERROR(data::parse_task_kind(t.arg).status());
  } else {
    return invalid_argument("[eval.tasks] unknown task kind '{}' in '{}' (ppl|mmlu|ceval|mcjsonl|gsm8k|synth)", kind, spec);
  }
  return t;
}

Result<json> run_eval(const EvalConfig& cfg, std::FILE* log) {
  const double t0 = wall_seconds();
  std::vector<TaskSpec> specs;
  for (const std::string& s : cfg.tasks) {
    ANVIL_ASSIGN_OR_RETURN(TaskSpec t, parse_task_spec(s));
    specs.push_back(std::move(t));
  }
  const std::string tok_path = cfg.tokenizer_path.empty() ? (fs::path(cfg.model_dir) / "tokenizer.json").string()
                                                          : cfg.tokenizer_path;
  ANVIL_ASSIGN_OR_RETURN(model::Transformer model, model::Transformer::load(cfg.model_dir));
  ANVIL_ASSIGN_OR_RETURN(tok::Tokenizer tokenizer, tok::load_tokenizer_json(tok_path));
  ANVIL_ASSIGN_OR_RETURN(LmScorer lm, LmScorer::create(model, tokenizer,
                                                       {.precision = cfg.precision, .max_batch = cfg.max_batch,
                                                        .max_length = cfg.max_length}));
  json report = {{"report_version", kReportVersion},
                 {"created", now_utc()},
                 {"model", {{"dir", cfg.model_dir}, {"n_params", model.n_params()},
                            {"config", json::parse(model::config_to_json(model.config()))}}},
                 {"tokenizer", tok_path},
                 {"settings", {{"shots", cfg.shots}, {"limit", cfg.limit},
                               {"precision", cfg.precision == Precision::kF32 ? "fp32" : "bf16"},
                               {"max_length", lm.max_length()}, {"max_new_tokens", cfg.max_new_tokens},
                               {"temperature", cfg.temperature}, {"n_samples", cfg.n_samples}, {"seed", cfg.seed}}},
                 {"tasks", json::array()}};
  GenBackend backend;
  const GenOptions gen_opt{.shots = cfg.shots, .limit = cfg.limit, .n_samples = cfg.n_samples, .pass_k = cfg.pass_k,
                           .params = {.max_new_tokens = cfg.max_new_tokens, .temperature = cfg.temperature,
                                      .seed = cfg.seed, .stop = {}},
                           .progress = cfg.progress};
  for (const TaskSpec& t : specs) {
    json j;
    switch (t.kind) {
      case TaskKind::kPpl: {
        const PplOptions po{.window = cfg.ppl_window, .stride = cfg.ppl_stride, .max_tokens = cfg.ppl_max_tokens,
                            .max_docs = cfg.limit, .progress = cfg.progress};
        Result<PplResult> r = is_token_shard(t.arg) ? perplexity_of_shard(lm, t.arg, po) : perplexity_of_text(lm, t.arg, po);
        if (!r.ok()) return r.status();
        j = to_json(*r);
        break;
      }
      case TaskKind::kMmlu:
      case TaskKind::kCeval:
      case TaskKind::kMcJsonl: {
        Result<McDataset> ds = t.kind == TaskKind::kMmlu    ? load_mmlu(t.arg, t.split.empty() ? "test" : t.split)
                               : t.kind == TaskKind::kCeval ? load_ceval(t.arg, t.split.empty() ? "val" : t.split)
                                                            : load_mc_jsonl(t.arg);
        if (!ds.ok()) return ds.status();
        ANVIL_ASSIGN_OR_RETURN(McResult r, run_mc(lm, *ds, {.shots = cfg.shots, .limit = cfg.limit,
                                                            .scoring = cfg.mc_scoring, .progress = cfg.progress}));
        j = to_json(r, cfg.n_worst);
        break;
      }
      case TaskKind::kGsm8k:
      case TaskKind::kSynth: {
        ANVIL_RETURN_IF_ERROR(make_backend(cfg, tok_path, lm, backend));
        auto run = [&]() -> Result<GenResult> {
          if (t.kind == TaskKind::kGsm8k) {
            GenOptions o = gen_opt;
            o.shot_pool = t.shot_pool;
            return run_gsm8k(backend.complete, t.arg, o);
          }
          ANVIL_ASSIGN_OR_RETURN(data::TaskKind kind, data::parse_task_kind(t.arg));
          const SynthTaskOptions so{.kind = kind, .difficulty = cfg.synth_difficulty, .style = cfg.synth_style,
                                    .seed = cfg.seed, .n = cfg.limit > 0 ? cfg.limit : kDefaultSynthN};
          return run_synth(backend.complete, so, gen_opt);
        };
        ANVIL_ASSIGN_OR_RETURN(GenResult r, run());
        j = to_json(r, cfg.n_worst);
        j["engine"] = backend.name;
        break;
      }
    }
    j["name"] = short_name(t);
    j["spec"] = t.name;
    if (log) std::fprintf(log, "anvil eval: %s done in %.1f s\n", t.name.c_str(), j.value("seconds", 0.0));
    report["tasks"].push_back(std::move(j));
  }
  if (cfg.speed) {
    // Shrink the measurement to fit a short-context model rather than fail the whole report.
    SpeedOptions so = cfg.speed_options;
    const int64_t ctx = model.config().max_seq;
    so.new_tokens = std::clamp<int64_t>(so.new_tokens, 2, std::max<int64_t>(2, ctx / 4));
    so.prompt_tokens = std::clamp<int64_t>(so.prompt_tokens, 1, std::max<int64_t>(1, ctx - so.new_tokens));
    ANVIL_ASSIGN_OR_RETURN(SpeedResult s, measure_speed(model, so));
    report["speed"] = to_json(s);
  }
  report["peak_rss_mib"] = static_cast<double>(memory_usage().peak_rss_bytes) / (1 << 20);
  report["seconds"] = wall_seconds() - t0;
  return report;
}

Status write_report(const json& report, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return io_error("[eval.report] cannot create '{}': {}", out_dir, ec.message());
  ANVIL_RETURN_IF_ERROR(write_file_atomic((fs::path(out_dir) / "eval_report.json").string(), report.dump(2, ' ', false, json::error_handler_t::replace) + "\n"));
  return write_file_atomic((fs::path(out_dir) / "eval_report.html").string(), report_html(report));
}

}  // namespace anvil::eval
