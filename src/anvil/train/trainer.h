// The pretraining loop: token shards -> Transformer -> AdamW/Lion with warmup + cosine/linear/constant
// schedule, global-norm clipping, gradient accumulation (normalised by the global count of target
// tokens, method-specs §2.5), fp32 or bf16 matmuls, periodic validation, metrics.jsonl, atomic
// checkpoints, and exact resume: a run resumed from its latest checkpoint produces bit-identical
// losses to one never interrupted (same thread count), because the model, the optimizer state, the
// loader position and every random stream are restored or derived from (seed, step).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/context.h"
#include "anvil/base/status.h"
#include "anvil/kernels/ops.h"
#include "anvil/model/config.h"
#include "anvil/optim/param_groups.h"
#include "anvil/optim/schedule.h"

namespace anvil::train {

// GEMM peaks measured on the reference machine (oneDNN, per core, GFLOP/s; docs/kernels/gemm.md):
// the denominators of MFU unless the run config gives its own or asks for a probe (docs/train.md).
inline constexpr double kGemmPeakF32PerCoreGflops = 250.0;
inline constexpr double kGemmPeakBf16PerCoreGflops = 500.0;

// Square-GEMM throughput C = A B^T (n x n x n) at the current OpenMP thread count: `anvil bench gemm`
// and the trainer's measure_peak probe. kF32 times ops::gemm on fp32 operands; kBF16 times
// ops::gemm_bf16 on operands already in bf16 (the path of a bf16 step's weights).
struct GemmRateOptions {
  Precision precision = Precision::kF32;
  int64_t n = 1024;
  int warmup_calls = 2;      // untimed (oneDNN creates its kernels on the first call)
  double min_seconds = 0.3;  // timed calls go on until this much time has passed ...
  int min_calls = 3;         // ... and at least this many were made
};
struct GemmRate {
  int64_t n = 0;
  int calls = 0;
  double seconds = 0;  // sum over the timed calls
  double gflops_median = 0, gflops_best = 0;  // per call; best = the fastest call
};
GemmRate measure_gemm_rate(const GemmRateOptions& options);

enum class OptimizerKind { kAdamW, kLion };

struct TrainOptions {
  std::string run_dir;
  model::ModelConfig model;
  std::string init_from;  // a model dir (config.json + model.safetensors) to start from; empty = init
  std::vector<std::string> train_data, val_data;  // shard files or directories of *.tok
  int64_t context = 256;
  int64_t batch_size = 16;  // sequences per micro-batch
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  int64_t steps = 1000;     // optimizer steps

  OptimizerKind optimizer = OptimizerKind::kAdamW;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
  optim::EmbeddingDecay embedding_decay = optim::EmbeddingDecay::kNoDecay;
  optim::ScheduleOptions schedule;  // peak_lr, min_lr, warmup; total_steps is set from `steps`
  double clip = 1.0;                // max global grad norm; 0 = no clipping
  float label_smoothing = 0.0f;
  Precision precision = Precision::kF32;

  int64_t log_every = 10;         // progress + metrics line every N steps (metrics: every step)
  int64_t val_every = 0;          // 0 = only at the end
  int64_t val_batches = 8;        // batches of batch_size sequences per validation
  int64_t checkpoint_every = 0;   // 0 = only at the end (and on SIGINT/SIGTERM)
  int keep_last = 3;
  double peak_gflops = 0.0;       // MFU denominator; 0 = k*PerCoreGflops × threads
  bool measure_peak = false;      // instead: the best call of a ~0.3 s GEMM probe at start (n = 1024)
  uint64_t seed = 1337;
};

struct TrainSummary {
  int64_t steps_done = 0;
  double first_loss = 0, final_loss = 0, final_val_loss = -1;
  double tokens_per_s = 0, mfu = 0;
  uint64_t peak_rss_bytes = 0;
  bool stopped_early = false;  // a signal or a non-finite loss ended the run
  std::string stop_reason;
};

class Trainer {
 public:
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;

  // Builds the model (initialised, or loaded from init_from), loader(s), optimizer and schedule, and
  // plans the activations. With resume, restores the latest checkpoint of run_dir instead.
  static Result<Trainer> create(const TrainOptions& options, const Context& ctx, bool resume);

  // Runs until options.steps, or until *stop becomes true (then checkpoints and returns cleanly).
  Result<TrainSummary> run(const std::atomic<bool>* stop = nullptr);

  int64_t step() const;

 private:
  struct State;
  explicit Trainer(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace anvil::train
