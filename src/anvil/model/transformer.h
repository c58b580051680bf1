// Transformer: the decoder-only language model for both config families (GPT-2 and LLaMA style),
// with a hand-written backward mirroring the forward (llm.c train_gpt2.c). Parameters live in one
// flat fp32 buffer and gradients in another of the same layout, with per-parameter views under Hugging
// Face names. plan(B, T) sizes every activation once; forward/backward then allocate nothing.
// Gradients accumulate (+=) across forward_backward calls until zero_grad().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/core/tensor.h"
#include "anvil/kernels/ops.h"
#include "anvil/model/config.h"
#include "anvil/model/kernel_timer.h"
#include "anvil/model/layers.h"

namespace anvil::model {

enum class ParamKind : uint8_t { kEmbedding, kMatrix, kBias, kNorm };

struct Param {
  std::string name;  // Hugging Face name, e.g. "h.0.attn.c_attn.weight"
  ParamKind kind = ParamKind::kMatrix;
  Shape shape;
  Tensor value;      // view into the flat parameter buffer
  Tensor grad;       // view into the flat gradient buffer
  int64_t offset = 0;  // in floats, in both flat buffers
  float init_std = 0.0f;  // normal(0, init_std); 0 = constant init_value
  float init_value = 0.0f;
};

enum class Mode : uint8_t { kTrain, kEval };  // kTrain applies dropout

struct StepOptions {
  Precision precision = Precision::kF32;
  Mode mode = Mode::kTrain;
  float label_smoothing = 0.0f;
  int32_t ignore_index = -100;
  uint64_t seed = 1337;  // dropout streams derive from (seed, step, layer, site)
  uint64_t step = 0;
  // Divisor of the summed token losses for the gradient; 0 = this batch's non-ignored target count
  // (the mean). Gradient accumulation passes the global count (method-specs §2.5).
  int64_t loss_normalizer = 0;
};

struct PlanOptions {
  int64_t head_rows = 0;  // LM head rows per chunk; 0 = as many as fit in 64 MiB of logits
  // Plan the bf16 buffers (a bf16 copy of the weights made once per step, bf16 GEMM operand scratch).
  // Without them Precision::kBF16 steps still work, through ops::gemm's own per-call rounding.
  bool bf16_buffers = true;
};

class Transformer {
 public:
  // Move-only: the weight and plan pointers refer to this model's own buffers.
  Transformer(Transformer&&) = default;
  Transformer& operator=(Transformer&&) = default;
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  // A model with all parameters zero (call init_weights or load_weights next).
  static Result<Transformer> create(const ModelConfig& config);

  // GPT-2 / nanoGPT or LLaMA initialisation (docs/model.md), deterministic in `seed`.
  void init_weights(uint64_t seed);
  // Reads model.safetensors-style tensors by name into the parameters (names and shapes must match).
  Status load_weights(const std::string& safetensors_path) { return read_weights(safetensors_path, false); }
  Status save_weights(const std::string& safetensors_path) const;
  // `dir`/config.json + `dir`/model.safetensors.
  Status save(const std::string& dir) const;
  static Result<Transformer> load(const std::string& dir);
  // load() for inference: every F32 tensor of the checkpoint stays in the file's read-only mapping and the
  // parameter is a view of it (BF16 / F16 ones are converted into the model's own buffer, as load() does),
  // so loading writes no memory for them and the engine packs straight from the page cache. The forward
  // works as on a loaded model; training does not (the flat parameter buffer does not hold mapped weights,
  // and they cannot be written): plan() refuses with bf16 buffers, and mapped() tells.
  static Result<Transformer> load_mapped(const std::string& dir);
  bool mapped() const { return mapped_; }

  const ModelConfig& config() const { return cfg_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  const Param* find_param(const std::string& name) const;
  Tensor flat_params() const { return flat_params_; }
  Tensor flat_grads() const { return flat_grads_; }
  int64_t n_params() const { return flat_params_.numel(); }  // tied weights counted once
  int64_t n_params_non_embedding() const;  // without position and token embeddings (lm_head if untied stays)
  // Training FLOPs per token, nanoGPT convention: 6*N + 12*L*d*T with N = params excluding position
  // embeddings, d = n_head*head_dim, T = context. forward_flops_per_token is one third of it.
  double train_flops_per_token(int64_t T) const;
  double forward_flops_per_token(int64_t T) const { return train_flops_per_token(T) / 3.0; }

  // Sizes every activation and gradient buffer for batches of B sequences of T tokens.
  Status plan(int64_t B, int64_t T, const PlanOptions& opt = {});
  int64_t planned_B() const { return B_; }
  int64_t planned_T() const { return T_; }
  size_t activation_bytes() const;

  // Checks a planned batch before a step (the step itself has no error paths): every id in [0, V),
  // every target in [0, V) or ignore_index. targets may be null (inference).
  Status validate_batch(const int32_t* ids, const int32_t* targets, int32_t ignore_index = -100) const;

  // One training forward + backward on ids (B*T) and targets (B*T); returns the mean loss over
  // non-ignored targets (NaN if all are ignored). Gradients accumulate (+=) into flat_grads().
  float forward_backward(const int32_t* ids, const int32_t* targets, const StepOptions& opt);
  // Same, split: forward computes the loss and the LM head's gradient chunk by chunk (the logits never
  // exist in full); backward runs the blocks backward. Exposed so benches can time the two halves.
  float forward(const int32_t* ids, const int32_t* targets, const StepOptions& opt);
  // Mean loss over non-ignored targets without touching the gradients (validation); the LM head
  // runs in the same row chunks, so the logits never exist in full here either.
  float eval_loss(const int32_t* ids, const int32_t* targets, const StepOptions& opt);
  void backward(const StepOptions& opt);
  void zero_grad();

  // Inference forward (no dropout): logits (B*T, V) for the planned B, T into `logits`.
  void logits(const int32_t* ids, float* logits, Precision precision);

  KernelTimer& timer() { return timer_; }

 private:
  struct Weights;  // per-layer pointers into the flat buffers (transformer.cpp)
  struct Plan;     // planned activation and scratch pointers (transformer.cpp)

  Transformer() = default;
  void add_param(const std::string& name, ParamKind kind, const Shape& shape, float init_std, float init_value);
  void build_weights();
  // load_weights, or with `map` the mapped form of load_mapped().
  Status read_weights(const std::string& safetensors_path, bool map);
  void forward_blocks(const int32_t* ids, const StepOptions& opt);
  void layer_forward(int64_t l, const StepOptions& opt);
  void layer_backward(int64_t l, const StepOptions& opt);
  enum class HeadPass : uint8_t { kLossOnly, kLossAndGrad };
  float head_forward_backward(const int32_t* targets, const StepOptions& opt, HeadPass pass);
  LinearCall linear_call(Precision precision);

  ModelConfig cfg_;
  std::vector<Param> params_;
  Tensor flat_params_, flat_grads_;
  std::vector<float> alibi_slopes_;
  int64_t B_ = 0, T_ = 0;
  KernelTimer timer_;
  std::shared_ptr<Weights> w_;
  std::shared_ptr<Plan> plan_;
  bool mapped_ = false;  // some parameters are views of a checkpoint's mapping (load_mapped)
};

}  // namespace anvil::model
