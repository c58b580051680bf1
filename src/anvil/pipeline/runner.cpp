// Planning and running the steps of `anvil run` (rules in runner.h).
#include "anvil/pipeline/runner.h"

#include <chrono>
#include <filesystem>

#include "anvil/pipeline/steps.h"
#include "anvil/train/checkpoint.h"

namespace anvil::pipeline {
namespace {

namespace fs = std::filesystem;

std::string record_path(const PipelineConfig& cfg, StepKind k) {
  return (fs::path(step_dir(cfg.run_dir, k)) / "step.json").string();
}

// Which inputs differ between a previous record and now, in words.
std::string changed_inputs(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& now) {
  std::vector<std::string> what;
  for (const auto& [k, v] : now) {
    auto it = before.find(k);
    if (it != before.end() && it->second == v) continue;
    if (k == "settings") what.push_back("settings changed");
    else if (k.rfind("step:", 0) == 0) what.push_back(fmt::format("upstream '{}' changed", k.substr(5)));
    else what.push_back(fmt::format("{} '{}'", it == before.end() ? "new input" : "input changed", k.substr(5)));
  }
  for (const auto& [k, v] : before) {
    if (!now.count(k)) what.push_back(fmt::format("input removed '{}'", k.rfind("file:", 0) == 0 ? k.substr(5) : k));
  }
  return what.empty() ? "hash changed" : fmt::format("{}", fmt::join(what, "; "));
}

std::string missing_output(const PipelineConfig& cfg, StepKind k, const StepRecord& r) {
  for (const std::string& o : r.outputs) {
    if (!fs::exists(fs::path(step_dir(cfg.run_dir, k)) / o)) return o;
  }
  return "";
}

std::string selection_flag(const RunOptions& o) {
  return fmt::format("--{} {}", o.selection == Selection::kFrom ? "from" : "only", step_name(o.selected));
}

}  // namespace

const char* action_name(Action a) {
  switch (a) {
    case Action::kReuse: return "reuse";
    case Action::kRun: return "run";
    case Action::kResume: return "resume";
    case Action::kKeep: return "keep";
    case Action::kSkip: return "skip";
  }
  return "?";
}

Result<std::vector<StepPlan>> plan_run(const PipelineConfig& cfg, const RunOptions& o) {
  std::vector<StepPlan> plan;
  std::string prev_hash;
  const int sel = static_cast<int>(o.selected);
  for (int i = 0; i < kNumSteps; ++i) {
    StepPlan p;
    p.kind = static_cast<StepKind>(i);
    const char* name = step_name(p.kind);
    p.inputs["settings"] = hash_hex(hash_bytes(cfg.settings.value(name, nlohmann::json::object()).dump()));
    if (i > 0) p.inputs[fmt::format("step:{}", step_name(static_cast<StepKind>(i - 1)))] = prev_hash;
    for (const std::string& f : external_inputs(p.kind, cfg)) {
      auto h = hash_path(f);
      if (!h.ok() && h.status().code() != StatusCode::kNotFound)
        return h.status().with_context(fmt::format("[run.plan] step '{}'", name));
      if (!h.ok()) p.missing_inputs.push_back(f);
      p.inputs["file:" + f] = h.ok() ? hash_hex(*h) : "missing";
    }
    p.hash = combine_inputs(p.inputs);
    auto rec = read_step_record(record_path(cfg, p.kind));
    const bool have = rec.ok();
    const bool before_sel = o.selection != Selection::kAll && i < sel;
    if (before_sel) {
      if (!have || rec->status != StepStatus::kCompleted) {
        return invalid_argument("[run.plan] {} needs step '{}' completed first ({}: {})", selection_flag(o), name,
                                record_path(cfg, p.kind),
                                have ? fmt::format("status {}", step_status_name(rec->status)) : rec.status().message());
      }
      if (const std::string missing = missing_output(cfg, p.kind, *rec); !missing.empty()) {
        return invalid_argument("[run.plan] {} needs the outputs of step '{}', but '{}' is missing", selection_flag(o),
                                name, (fs::path(step_dir(cfg.run_dir, p.kind)) / missing).string());
      }
      p.action = Action::kKeep;
      p.why = fmt::format("before {}", selection_flag(o));
      if (rec->hash != p.hash) p.why += fmt::format(" (stale: {})", changed_inputs(rec->inputs, p.inputs));
      p.hash = rec->hash;  // later steps chain on what is on disk
      p.inputs = rec->inputs;
    } else if (o.selection == Selection::kOnly && i > sel) {
      p.action = Action::kSkip;
      p.why = selection_flag(o);
    } else if (o.force) {
      p.action = Action::kRun;
      p.why = "--force";
    } else if (o.selection != Selection::kAll) {
      p.action = Action::kRun;
      p.why = selection_flag(o);
    } else if (!have) {
      p.action = Action::kRun;
      p.why = rec.status().code() == StatusCode::kNotFound ? "no previous run" : rec.status().message();
    } else if (rec->hash != p.hash) {
      p.action = Action::kRun;
      p.why = changed_inputs(rec->inputs, p.inputs);
    } else if (rec->status == StepStatus::kCompleted) {
      const std::string missing = missing_output(cfg, p.kind, *rec);
      p.action = missing.empty() ? Action::kReuse : Action::kRun;
      p.why = missing.empty() ? fmt::format("unchanged (hash {})", p.hash) : fmt::format("output '{}' is missing", missing);
    } else if (p.kind == StepKind::kTrain && train::latest_checkpoint(step_dir(cfg.run_dir, p.kind)).ok()) {
      p.action = Action::kResume;
      p.why = fmt::format("previous attempt {} after checkpoint step {}", step_status_name(rec->status),
                          train::latest_checkpoint(step_dir(cfg.run_dir, p.kind))->step);
    } else {
      p.action = Action::kRun;
      p.why = fmt::format("previous attempt {}", step_status_name(rec->status));
    }
    if (!p.missing_inputs.empty() && (p.action == Action::kRun || p.action == Action::kResume))
      p.why = fmt::format("input '{}' does not exist: the run would stop here", p.missing_inputs.front());
    prev_hash = p.hash;
    plan.push_back(std::move(p));
  }
  return plan;
}

std::string format_plan(const std::vector<StepPlan>& plan) {
  std::string s;
  for (const StepPlan& p : plan) {
    s += fmt::format("  {} {:<9}  {:<6}  {}\n", static_cast<int>(p.kind) + 1, step_name(p.kind), action_name(p.action), p.why);
  }
  return s;
}

Result<RunOutcome> run_pipeline(const PipelineConfig& cfg, const RunOptions& o, const Context& ctx) {
  RunOutcome out;
  ANVIL_ASSIGN_OR_RETURN(out.plan, plan_run(cfg, o));
  out.seconds.assign(out.plan.size(), 0.0);
  if (o.dry_run) return out;
  for (const StepPlan& p : out.plan) {
    if (!p.missing_inputs.empty() && (p.action == Action::kRun || p.action == Action::kResume))
      return not_found("[run] step '{}' reads '{}', which does not exist (nothing was run)", step_name(p.kind),
                       p.missing_inputs.front());
  }
  std::error_code ec;
  fs::create_directories(cfg.run_dir, ec);
  if (ec) return io_error("[run] cannot create run dir '{}': {}", cfg.run_dir, ec.message());
  for (size_t i = 0; i < out.plan.size(); ++i) {
    const StepPlan& p = out.plan[i];
    const char* name = step_name(p.kind);
    const std::string head = fmt::format("[{}/{}] {:<9}", i + 1, out.plan.size(), name);
    if (p.action != Action::kRun && p.action != Action::kResume) {
      std::fprintf(o.log, "%s %s (%s)\n", head.c_str(), p.action == Action::kReuse ? "reused" : action_name(p.action),
                   p.why.c_str());
      continue;
    }
    if (o.stop != nullptr && o.stop->load()) {
      return Status(StatusCode::kCancelled,
                    fmt::format("stopped before step '{}'; the steps done so far are kept", name));
    }
    std::fprintf(o.log, "%s %s (%s)\n", head.c_str(), p.action == Action::kResume ? "resuming" : "running", p.why.c_str());
    std::fflush(o.log);
    const std::string dir = step_dir(cfg.run_dir, p.kind);
    if (p.action == Action::kRun) fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) return io_error("[run] step '{}': cannot create '{}': {}", name, dir, ec.message());
    StepRecord rec{.step = name, .hash = p.hash, .inputs = p.inputs, .outputs = {}, .status = StepStatus::kRunning,
                   .started = utc_now_iso()};
    ANVIL_RETURN_IF_ERROR(write_step_record(record_path(cfg, p.kind), rec));
    const auto t0 = std::chrono::steady_clock::now();
    const StepContext sc{.cfg = cfg, .ctx = ctx, .log = o.log, .stop = o.stop,
                         .train_start = p.action == Action::kResume ? TrainStart::kResume : TrainStart::kFresh};
    Result<StepOutput> r = run_step(p.kind, sc);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rec.finished = utc_now_iso();
    out.seconds[i] = rec.seconds;
    if (!r.ok()) {
      const bool stopped = r.status().code() == StatusCode::kCancelled;
      rec.status = stopped ? StepStatus::kInterrupted : StepStatus::kFailed;
      rec.error = r.status().to_string();
      ANVIL_RETURN_IF_ERROR(write_step_record(record_path(cfg, p.kind), rec));
      std::fprintf(o.log, "%s %s after %.1f s\n", head.c_str(), step_status_name(rec.status), rec.seconds);
      return Status(r.status().code(), fmt::format("step '{}' {} (details in {}): {}", name,
                                                   stopped ? "was interrupted" : "failed", record_path(cfg, p.kind),
                                                   r.status().message()));
    }
    rec.status = StepStatus::kCompleted;
    rec.outputs = r->outputs;
    rec.summary = r->summary;
    ANVIL_RETURN_IF_ERROR(write_step_record(record_path(cfg, p.kind), rec));
    std::fprintf(o.log, "%s done in %.1f s\n", head.c_str(), rec.seconds);
    std::fflush(o.log);
  }
  return out;
}

}  // namespace anvil::pipeline
