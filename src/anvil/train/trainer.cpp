#include "anvil/train/trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "anvil/base/check.h"
#include "anvil/base/progress.h"
#include "anvil/base/sysinfo.h"
#include "anvil/model/transformer.h"
#include "anvil/optim/clip.h"
#include "anvil/optim/optimizer.h"
#include "anvil/train/checkpoint.h"
#include "anvil/train/loader.h"
#include "anvil/train/metrics.h"

namespace anvil::train {
namespace fs = std::filesystem;

namespace {

constexpr int32_t kIgnoreIndex = -100;
constexpr double kGradNormLow = 1e-3, kGradNormHigh = 1e1;  // outside: a warning (issue 3)
constexpr double kMiB = 1024.0 * 1024.0;

int64_t count_valid(const int32_t* targets, int64_t n) {
  int64_t valid = 0;
  for (int64_t i = 0; i < n; ++i) valid += targets[i] != kIgnoreIndex;
  return valid;
}

// MFU's denominator and where it came from (docs/train.md). The probe runs before the model and the
// optimizer allocate, so its buffers (12 MiB at n = 1024, freed) never raise the run's peak RSS.
struct MfuPeak {
  double gflops = 0;
  nlohmann::json fields;  // for the start/resume event
};

MfuPeak resolve_mfu_peak(const TrainOptions& o, int threads, const Context& ctx) {
  if (o.measure_peak) {
    const GemmRate r = measure_gemm_rate({.precision = o.precision});
    ctx.log->info("[train] MFU peak: {:.0f} GFLOP/s measured (best of {} {}^3 GEMMs, median {:.0f})", r.gflops_best,
                  r.calls, r.n, r.gflops_median);
    return {r.gflops_best,
            {{"peak_gflops", r.gflops_best}, {"peak_source", "measured"},
             {"peak_probe", {{"n", r.n}, {"calls", r.calls}, {"gflops_median", r.gflops_median}}}}};
  }
  if (o.peak_gflops > 0) return {o.peak_gflops, {{"peak_gflops", o.peak_gflops}, {"peak_source", "config"}}};
  const double per_core = o.precision == Precision::kBF16 ? kGemmPeakBf16PerCoreGflops : kGemmPeakF32PerCoreGflops;
  return {per_core * threads, {{"peak_gflops", per_core * threads}, {"peak_source", "reference"}}};
}

}  // namespace

GemmRate measure_gemm_rate(const GemmRateOptions& o) {
  ANVIL_CHECK(o.n > 0 && o.min_calls > 0 && o.warmup_calls >= 0);
  const int64_t n = o.n;
  const size_t nn = static_cast<size_t>(n * n);
  std::vector<float> a(nn), b(nn), c(nn);
  for (size_t i = 0; i < nn; ++i) {  // small values with no special structure; the GEMM does not look
    a[i] = 0.03f * static_cast<float>(i % 13) - 0.18f;
    b[i] = 0.05f * static_cast<float>(i % 7) - 0.15f;
  }
  std::vector<bf16_t> a16, b16;
  const bool bf16 = o.precision == Precision::kBF16;
  if (bf16) {
    a16.resize(nn);
    b16.resize(nn);
    ops::f32_to_bf16(a16.data(), a.data(), static_cast<int64_t>(nn));
    ops::f32_to_bf16(b16.data(), b.data(), static_cast<int64_t>(nn));
    std::vector<float>().swap(a);
    std::vector<float>().swap(b);
  }
  const auto call = [&] {
    if (bf16) {
      ops::gemm_bf16(Transpose::kNo, Transpose::kYes, n, n, n, 1.0f, a16.data(), n, b16.data(), n, 0.0f, c.data(), n);
    } else {
      ops::gemm(Precision::kF32, Transpose::kNo, Transpose::kYes, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c.data(), n);
    }
  };
  for (int i = 0; i < o.warmup_calls; ++i) call();
  std::vector<double> times;
  double total = 0;
  while (static_cast<int>(times.size()) < o.min_calls || total < o.min_seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  const size_t k = times.size();
  const double median = k % 2 ? times[k / 2] : 0.5 * (times[k / 2 - 1] + times[k / 2]);
  const double gflop = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / 1e9;
  return {.n = n, .calls = static_cast<int>(k), .seconds = total, .gflops_median = gflop / median,
          .gflops_best = gflop / times.front()};
}

struct Trainer::State {
  TrainOptions o;
  Context ctx;
  model::Transformer model;
  TokenLoader train;
  std::optional<TokenLoader> val;
  std::unique_ptr<optim::Optimizer> opt;
  optim::LrSchedule sched;
  MetricsLog metrics;
  std::vector<int32_t> ids, targets;  // grad_accum × B × T
  int64_t step = 0;                    // optimizer steps completed
  uint64_t tokens_seen = 0;
  double peak_gflops = 0;
  int threads = 1;

  State(TrainOptions o_, Context c, model::Transformer m, TokenLoader tr, optim::LrSchedule s)
      : o(std::move(o_)), ctx(std::move(c)), model(std::move(m)), train(std::move(tr)), sched(s) {}

  int64_t tokens_per_step() const { return o.grad_accum * o.batch_size * o.context; }

  nlohmann::json trainer_state() const {
    return {{"step", step},
            {"tokens_seen", tokens_seen},
            {"loader", {{"epoch", train.position().epoch}, {"cursor", train.position().cursor}}},
            {"seed", o.seed},
            {"batch_size", o.batch_size},
            {"context", o.context},
            {"grad_accum", o.grad_accum},
            {"optimizer", opt->kind()}};
  }

  Status checkpoint() {
    CheckpointContents c{.model = &model, .optimizer_state = opt->state(), .trainer_state = trainer_state()};
    ANVIL_RETURN_IF_ERROR(save_checkpoint(o.run_dir, step, c, o.keep_last));
    return metrics.write({{"kind", "event"}, {"step", step}, {"event", "checkpoint"}});
  }

  Status restore(const CheckpointRef& ref) {
    ANVIL_RETURN_IF_ERROR(model.load_weights((fs::path(ref.dir) / "model.safetensors").string()));
    ANVIL_ASSIGN_OR_RETURN(SafetensorsFile ostate, SafetensorsFile::open((fs::path(ref.dir) / "optimizer.safetensors").string()));
    ANVIL_RETURN_IF_ERROR(opt->load_state(ostate));
    ANVIL_ASSIGN_OR_RETURN(std::string text, read_file((fs::path(ref.dir) / "trainer_state.json").string()));
    auto j = nlohmann::json::parse(text, nullptr, false);
    const char* need[] = {"step", "tokens_seen", "loader", "batch_size", "context", "grad_accum", "optimizer"};
    for (const char* k : need)
      if (j.is_discarded() || !j.contains(k))
        return invalid_argument("[train.resume] '{}/trainer_state.json' lacks '{}'", ref.dir, k);
    if (j["batch_size"] != o.batch_size || j["context"] != o.context || j["grad_accum"] != o.grad_accum ||
        j["optimizer"] != opt->kind())
      return invalid_argument(
          "[train.resume] checkpoint '{}' was made with batch_size {}, context {}, grad_accum {}, optimizer {}; "
          "the config now says {}, {}, {}, {} — exact resume needs the same",
          ref.dir, j["batch_size"].dump(), j["context"].dump(), j["grad_accum"].dump(), j["optimizer"].dump(),
          o.batch_size, o.context, o.grad_accum, opt->kind());
    step = j["step"].get<int64_t>();
    tokens_seen = j["tokens_seen"].get<uint64_t>();
    train.set_position({.epoch = j["loader"]["epoch"].get<uint64_t>(), .cursor = j["loader"]["cursor"].get<uint64_t>()});
    return ok_status();
  }

  // Mean loss over the fixed validation batches (no dropout, gradients untouched).
  double validate(int64_t* n_tokens) {
    TokenLoader& L = val ? *val : train;
    const int64_t BT = o.batch_size * o.context;
    std::vector<int32_t> vi(static_cast<size_t>(BT)), vt(static_cast<size_t>(BT));
    double sum = 0;
    int64_t n = 0;
    for (int64_t b = 0; b < o.val_batches && L.fixed_batch(b, o.batch_size, vi.data(), vt.data()); ++b) {
      const int64_t valid = count_valid(vt.data(), BT);
      const model::StepOptions so{.precision = o.precision, .mode = model::Mode::kEval,
                                  .label_smoothing = 0.0f, .ignore_index = kIgnoreIndex};
      sum += static_cast<double>(model.eval_loss(vi.data(), vt.data(), so)) * static_cast<double>(valid);
      n += valid;
    }
    *n_tokens = n;
    return n > 0 ? sum / static_cast<double>(n) : std::nan("");
  }
};

Trainer::Trainer(std::unique_ptr<State> s) : s_(std::move(s)) {}
Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;
int64_t Trainer::step() const { return s_->step; }

Result<Trainer> Trainer::create(const TrainOptions& o, const Context& ctx, bool resume) {
  if (o.batch_size < 1 || o.grad_accum < 1 || o.steps < 1 || o.context < 1)
    return invalid_argument("[train] batch_size, grad_accum, steps and context must be >= 1 (got {}, {}, {}, {})",
                            o.batch_size, o.grad_accum, o.steps, o.context);
  if (o.peak_gflops < 0 || (o.measure_peak && o.peak_gflops > 0))
    return invalid_argument("[train] MFU peak: give peak_gflops > 0 or measure_peak, not both (got {} and {})",
                            o.peak_gflops, o.measure_peak);
  if (o.context > o.model.max_seq && o.model.position == model::PositionType::kLearned)
    return invalid_argument("[train] context {} exceeds the model's {} learned positions", o.context, o.model.max_seq);
  std::error_code ec;
  fs::create_directories(o.run_dir, ec);
  if (ec) return io_error("[train] cannot create run dir '{}': {}", o.run_dir, ec.message());

  ANVIL_ASSIGN_OR_RETURN(TokenLoader train, TokenLoader::open(o.train_data, o.context, o.seed));
  if (train.vocab_size() > o.model.vocab_size)
    return invalid_argument("[train] the training shards use vocab {} but the model has {} tokens", train.vocab_size(),
                            o.model.vocab_size);
  const int threads = ctx.apply();
  const MfuPeak peak = resolve_mfu_peak(o, threads, ctx);  // before the model allocates (see MfuPeak)
  ANVIL_ASSIGN_OR_RETURN(model::Transformer m, model::Transformer::create(o.model));
  if (!o.init_from.empty() && !resume) {
    ANVIL_RETURN_IF_ERROR(m.load_weights((fs::path(o.init_from) / "model.safetensors").string()));
  } else {
    m.init_weights(o.seed);
  }
  optim::ScheduleOptions so = o.schedule;
  so.total_steps = o.steps;
  ANVIL_ASSIGN_OR_RETURN(optim::LrSchedule sched, optim::LrSchedule::create(so));

  auto s = std::make_unique<State>(o, ctx, std::move(m), std::move(train), sched);
  if (!o.val_data.empty()) {
    ANVIL_ASSIGN_OR_RETURN(TokenLoader val, TokenLoader::open(o.val_data, o.context, o.seed));
    s->val = std::move(val);
  }
  ANVIL_RETURN_IF_ERROR(s->model.plan(o.batch_size, o.context));

  std::vector<optim::ParamRef> refs;
  for (model::Param& p : s->model.params()) refs.push_back({.name = p.name, .value = p.value, .grad = p.grad});
  const optim::DecayOptions decay{.weight_decay = o.weight_decay, .embeddings = o.embedding_decay};
  std::vector<optim::ParamGroup> groups = optim::assign_decay_groups(refs, decay);
  if (o.optimizer == OptimizerKind::kAdamW) {
    ANVIL_ASSIGN_OR_RETURN(auto a, optim::AdamW::create(std::move(refs), groups, {.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps}));
    s->opt = std::move(a);
  } else {
    ANVIL_ASSIGN_OR_RETURN(auto l, optim::Lion::create(std::move(refs), groups, {.beta1 = o.beta1, .beta2 = o.beta2}));
    s->opt = std::move(l);
  }

  s->threads = threads;
  s->peak_gflops = peak.gflops;
  s->ids.resize(static_cast<size_t>(s->tokens_per_step()));
  s->targets.resize(s->ids.size());

  int64_t truncate_after = -1;
  if (resume) {
    ANVIL_ASSIGN_OR_RETURN(CheckpointRef ref, latest_checkpoint(o.run_dir));
    ANVIL_RETURN_IF_ERROR(s->restore(ref).with_context("resuming from '" + ref.dir + "'"));
    truncate_after = s->step;
  }
  ANVIL_RETURN_IF_ERROR(s->metrics.open((fs::path(o.run_dir) / "metrics.jsonl").string(), resume ? truncate_after : 0));
  nlohmann::json start = {{"kind", "event"},
                          {"step", s->step},
                          {"event", resume ? "resume" : "start"},
                          {"params", s->model.n_params()},
                          {"train_tokens", s->train.n_tokens()},
                          {"threads", s->threads}};
  start.update(peak.fields);
  ANVIL_RETURN_IF_ERROR(s->metrics.write(start));
  return Trainer(std::move(s));
}

Result<TrainSummary> Trainer::run(const std::atomic<bool>* stop) {
  State& s = *s_;
  const TrainOptions& o = s.o;
  TrainSummary sum;
  const int64_t BT = o.batch_size * o.context;
  const double flops_per_token = s.model.train_flops_per_token(o.context);
  Progress progress("train", static_cast<uint64_t>(o.steps), "steps");
  progress.update(static_cast<uint64_t>(s.step));
  const auto run_start = std::chrono::steady_clock::now();
  const int64_t first_step = s.step;
  bool warned_grad = false;

  while (s.step < o.steps) {
    if (stop != nullptr && stop->load()) {
      sum.stopped_early = true;
      sum.stop_reason = "interrupted by a signal";
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = s.sched.lr(s.step);
    s.model.zero_grad();
    for (int64_t k = 0; k < o.grad_accum; ++k) s.train.next_batch(o.batch_size, &s.ids[k * BT], &s.targets[k * BT]);
    const int64_t n_valid = count_valid(s.targets.data(), static_cast<int64_t>(s.targets.size()));
    double loss_sum = 0;
    for (int64_t k = 0; k < o.grad_accum; ++k) {
      const model::StepOptions so{.precision = o.precision,
                                  .mode = model::Mode::kTrain,
                                  .label_smoothing = o.label_smoothing,
                                  .ignore_index = kIgnoreIndex,
                                  .seed = o.seed,
                                  .step = static_cast<uint64_t>(s.step * o.grad_accum + k),
                                  .loss_normalizer = n_valid};
      const float l = s.model.forward_backward(&s.ids[k * BT], &s.targets[k * BT], so);
      loss_sum += static_cast<double>(l) * static_cast<double>(count_valid(&s.targets[k * BT], BT));
    }
    const double loss = loss_sum / static_cast<double>(std::max<int64_t>(n_valid, 1));
    const std::vector<Tensor> grads = {s.model.flat_grads()};
    const float norm = o.clip > 0 ? optim::clip_grad_norm(grads, o.clip) : optim::grad_norm(grads);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      sum.stopped_early = true;
      sum.stop_reason = fmt::format("non-finite {} at step {}: stopping; the last checkpoint is kept",
                                    std::isfinite(loss) ? "grad norm" : "loss", s.step + 1);
      s.ctx.log->error("[train] {}", sum.stop_reason);
      ANVIL_RETURN_IF_ERROR(s.metrics.write({{"kind", "event"}, {"step", s.step + 1}, {"event", "stop"}, {"message", sum.stop_reason}}));
      return sum;  // no checkpoint of a diverged state
    }
    s.opt->step(lr);
    ++s.step;
    s.tokens_seen += static_cast<uint64_t>(s.tokens_per_step());
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = static_cast<double>(s.tokens_per_step()) / dt;
    const double mfu = flops_per_token * tps / (s.peak_gflops * 1e9);
    const MemoryUsage mem = memory_usage();
    if (s.step == first_step + 1) sum.first_loss = loss;
    sum.final_loss = loss;
    ANVIL_RETURN_IF_ERROR(s.metrics.write({{"kind", "train"}, {"step", s.step}, {"loss", loss}, {"lr", lr},
                                           {"grad_norm", norm}, {"tokens", s.tokens_seen}, {"tokens_per_s", tps},
                                           {"mfu", mfu}, {"step_s", dt}, {"rss_mib", mem.rss_bytes / kMiB},
                                           {"peak_rss_mib", mem.peak_rss_bytes / kMiB}}));
    if ((norm < kGradNormLow || norm > kGradNormHigh) && !warned_grad) {
      const std::string w = fmt::format("grad norm {:.3g} at step {} is outside [{}, {}]", norm, s.step, kGradNormLow, kGradNormHigh);
      s.ctx.log->warn("[train] {} (warned once per run)", w);
      ANVIL_RETURN_IF_ERROR(s.metrics.write({{"kind", "event"}, {"step", s.step}, {"event", "warning"}, {"message", w}}));
      warned_grad = true;
    }
    progress.set_note(fmt::format("loss {:.4f}  lr {:.2e}  {} tok/s  MFU {:.1f}%", loss, lr, human_count(tps), 100 * mfu));
    progress.update(static_cast<uint64_t>(s.step));

    const bool last = s.step == o.steps;
    if ((o.val_every > 0 && s.step % o.val_every == 0) || last) {
      int64_t vt = 0;
      const double vl = s.validate(&vt);
      sum.final_val_loss = vl;
      ANVIL_RETURN_IF_ERROR(s.metrics.write({{"kind", "val"}, {"step", s.step}, {"val_loss", vl}, {"val_tokens", vt}}));
      s.ctx.log->info("[train] step {} val loss {:.4f} ({} tokens)", s.step, vl, vt);
    }
    if ((o.checkpoint_every > 0 && s.step % o.checkpoint_every == 0) || last) ANVIL_RETURN_IF_ERROR(s.checkpoint());
  }
  if (sum.stopped_early) ANVIL_RETURN_IF_ERROR(s.checkpoint());
  progress.finish();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  sum.steps_done = s.step;
  sum.tokens_per_s = total > 0 ? static_cast<double>((s.step - first_step) * s.tokens_per_step()) / total : 0;
  sum.mfu = flops_per_token * sum.tokens_per_s / (s.peak_gflops * 1e9);
  sum.peak_rss_bytes = memory_usage().peak_rss_bytes;
  return sum;
}

}  // namespace anvil::train
