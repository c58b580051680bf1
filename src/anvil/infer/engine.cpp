// Engine::forward: embeddings at each token's own position, then per layer (pre-norm, as in
// transformer_step.cpp):  mid = x + o_proj(attn(norm1(x)))   out = mid + down(act(up(norm2(mid))))
// with q/k rotated by RoPE at their absolute positions, k/v appended to the slot's cache, and attention
// of each run's queries over its cache (ops::attention_decode); every linear on its packed weights
// (packed_linear.h), the residual adds in their regions. Final norm and LM head only on the rows whose
// logits are wanted. Shapes: N batch rows, C = d_model, F = d_ff, QKV = q_dim + 2 kv_dim.
#include "anvil/infer/engine.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

namespace anvil::infer {

using model::Linear;
using model::Norm;
using model::WeightLayout;

namespace {

// Linears reading the same input (q/k/v), linear i writing columns col[i].. of `out` (row stride ldo): one
// parallel region for all of them.
void run_linears(model::KernelTimer& timer, std::span<const PackedLinear> lins, const int64_t* col, float* out,
                 int64_t ldo, const float* inp, int64_t ldi, int64_t N) {
  model::ScopedKernelTime t(timer, model::KernelKind::kGemm);
  LinearOutput outs[3];
  ANVIL_CHECK(lins.size() <= std::size(outs), "run_linears: {} linears", lins.size());
  for (size_t i = 0; i < lins.size(); ++i) outs[i] = {.lin = &lins[i], .out = out + col[i], .ldo = ldo};
  packed_linears(std::span<const LinearOutput>(outs, lins.size()), inp, ldi, N);
}

}  // namespace

Result<Engine> Engine::create(const model::Transformer& model, const EngineOptions& opt) {
  const model::ModelConfig& c = model.config();
  const int64_t max_seq = opt.max_seq > 0 ? opt.max_seq : c.max_seq;
  if (c.position == model::PositionType::kLearned && max_seq > c.max_seq)
    return invalid_argument("[infer.engine] max_seq {} exceeds the model's {} learned positions", max_seq, c.max_seq);
  if (opt.max_batch_tokens <= 0)
    return invalid_argument("[infer.engine] max_batch_tokens {} must be > 0", opt.max_batch_tokens);
  Engine e;
  e.config_ = model.config();
  e.max_batch_ = opt.max_batch_tokens;
  ANVIL_ASSIGN_OR_RETURN(e.cache_, KvCache::create(c, opt.n_slots, max_seq, opt.kv_dtype));
  ANVIL_RETURN_IF_ERROR(e.bind_weights(model));
  if (c.position == model::PositionType::kAlibi) {
    e.alibi_slopes_.resize(static_cast<size_t>(c.n_head));
    ops::alibi_slopes(e.alibi_slopes_.data(), c.n_head);
  }
  if (c.position == model::PositionType::kRope) {
    e.rope_cos_.resize(static_cast<size_t>(max_seq * c.head_dim / 2));
    e.rope_sin_.resize(e.rope_cos_.size());
    ops::rope_table(e.rope_cos_.data(), e.rope_sin_.data(), max_seq, c.head_dim, c.rope_theta, 0);
  }
  const auto N = static_cast<size_t>(e.max_batch_), C = static_cast<size_t>(c.d_model),
             F = static_cast<size_t>(c.d_ff), QD = static_cast<size_t>(c.q_dim()), KVD = static_cast<size_t>(c.kv_dim());
  e.x_.resize(N * C), e.ln_.resize(N * C), e.mean_.resize(N), e.rstd_.resize(N);
  e.qkv_.resize(N * (QD + 2 * KVD)), e.att_.resize(N * QD);
  e.act_.resize(N * F), e.lnf_.resize(N * C);
  e.runs_.reserve(N);
  return e;
}

Status Engine::bind_weights(const model::Transformer& model) {
  const model::ModelConfig& c = config_;
  Status missing;
  auto param = [&](const std::string& name) -> const model::Param* {
    const model::Param* p = model.find_param(name);
    if (!p && missing.ok()) missing = not_found("[infer.engine] the model has no parameter '{}'", name);
    return p;
  };
  auto val = [&](const std::string& name) -> const float* {
    const model::Param* p = param(name);
    return p ? p->value.data<float>() : nullptr;
  };
  // Embeddings and norms are copied (the linears are packed): the engine keeps nothing of the model.
  auto own = [&](const std::string& name) -> const float* {
    const model::Param* p = param(name);
    if (!p) return nullptr;
    const float* v = p->value.data<float>();
    return owned_.emplace_back(v, v + p->value.numel()).data();
  };
  const bool bias_gpt2 = c.is_gpt2();
  auto linear = [&](const std::string& n, int64_t in, int64_t out, WeightLayout layout, bool bias) {
    const Linear lin{.w = val(n + ".weight"), .b = bias ? val(n + ".bias") : nullptr, .in = in,
                     .out = out, .layout = layout};
    if (!lin.w || (bias && !lin.b)) return PackedLinear();  // `missing` says which
    PackedLinear packed(lin);
    packed_bytes_ += packed.bytes();
    return packed;
  };
  auto norm = [&](const std::string& n) {
    return Norm{.w = own(n + ".weight"), .b = c.is_gpt2() ? own(n + ".bias") : nullptr,
                .rms = !c.is_gpt2(), .eps = c.norm_eps, .C = c.d_model};
  };
  const bool learned = c.position == model::PositionType::kLearned;
  const int64_t C = c.d_model, F = c.d_ff;
  if (c.is_gpt2()) {
    wte_ = own("wte.weight"), wpe_ = learned ? own("wpe.weight") : nullptr, norm_f_ = norm("ln_f");
  } else {
    wte_ = own("model.embed_tokens.weight");
    wpe_ = learned ? own("model.embed_positions.weight") : nullptr;
    norm_f_ = norm("model.norm");
  }
  if (c.tie_embeddings && wte_) {
    lm_head_ = PackedLinear(Linear{.w = wte_, .in = C, .out = c.vocab_size, .layout = WeightLayout::kOutIn});
    packed_bytes_ += lm_head_.bytes();
  } else if (!c.tie_embeddings) {
    lm_head_ = linear("lm_head", C, c.vocab_size, WeightLayout::kOutIn, false);
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerWeights lw;
    if (c.is_gpt2()) {
      const std::string p = "h." + std::to_string(l) + ".";
      const auto io = WeightLayout::kInOut;
      lw.norm1 = norm(p + "ln_1"), lw.norm2 = norm(p + "ln_2");
      lw.qkv[0] = linear(p + "attn.c_attn", C, 3 * c.q_dim(), io, bias_gpt2), lw.n_qkv = 1;
      lw.o = linear(p + "attn.c_proj", c.q_dim(), C, io, bias_gpt2);
      lw.up[0] = linear(p + "mlp.c_fc", C, F, io, bias_gpt2), lw.n_up = 1;
      lw.down = linear(p + "mlp.c_proj", F, C, io, bias_gpt2);
    } else {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const auto oi = WeightLayout::kOutIn;
      lw.norm1 = norm(p + "input_layernorm"), lw.norm2 = norm(p + "post_attention_layernorm");
      lw.qkv[0] = linear(p + "self_attn.q_proj", C, c.q_dim(), oi, c.attn_bias);
      lw.qkv[1] = linear(p + "self_attn.k_proj", C, c.kv_dim(), oi, c.attn_bias);
      lw.qkv[2] = linear(p + "self_attn.v_proj", C, c.kv_dim(), oi, c.attn_bias);
      lw.qkv_col[1] = c.q_dim(), lw.qkv_col[2] = c.q_dim() + c.kv_dim(), lw.n_qkv = 3;
      lw.o = linear(p + "self_attn.o_proj", c.q_dim(), C, oi, c.attn_bias);
      lw.up[0] = linear(p + "mlp.gate_proj", C, F, oi, c.mlp_bias);
      lw.up[1] = linear(p + "mlp.up_proj", C, F, oi, c.mlp_bias), lw.n_up = 2;
      lw.down = linear(p + "mlp.down_proj", F, C, oi, c.mlp_bias);
    }
    layers_.push_back(std::move(lw));
  }
  return missing;
}

Status Engine::split_runs(std::span<const TokenInput> batch) {
  const auto n = static_cast<int64_t>(batch.size());
  if (n == 0 || n > max_batch_)
    return invalid_argument("[infer.forward] batch of {} tokens, expected 1..{} (max_batch_tokens)", n, max_batch_);
  const int64_t V = vocab_size();
  runs_.clear();
  for (int64_t i = 0; i < n; ++i) {
    const TokenInput& t = batch[static_cast<size_t>(i)];
    if (t.slot < 0 || t.slot >= cache_.n_slots())
      return invalid_argument("[infer.forward] token {}: slot {} outside [0, {})", i, t.slot, cache_.n_slots());
    if (t.token < 0 || t.token >= V)
      return invalid_argument("[infer.forward] token {}: id {} outside the vocabulary [0, {})", i, t.token, V);
    if (t.pos < 0 || t.pos >= cache_.max_seq())
      return out_of_range("[infer.forward] token {}: position {} outside [0, {}) (max_seq)", i, t.pos, cache_.max_seq());
    if (!runs_.empty() && runs_.back().slot == t.slot) {
      if (t.pos != runs_.back().pos0 + (i - runs_.back().begin))
        return invalid_argument("[infer.forward] token {}: slot {} position {} does not follow position {}", i, t.slot,
                                t.pos, batch[static_cast<size_t>(i - 1)].pos);
      runs_.back().end = i + 1;
      continue;
    }
    for (const Run& r : runs_)
      if (r.slot == t.slot)
        return invalid_argument("[infer.forward] token {}: slot {} appears in two runs of one batch", i, t.slot);
    if (t.pos > cache_.length(t.slot))
      return invalid_argument("[infer.forward] token {}: slot {} starts at position {} but holds only {}", i, t.slot,
                              t.pos, cache_.length(t.slot));
    runs_.push_back(Run{.begin = i, .end = i + 1, .slot = t.slot, .pos0 = t.pos});
  }
  return ok_status();
}

// Per run: RoPE on its new q/k rows, its k/v appended to its slot's cache (rounded to T), then its queries
// attend over that cache. A run touches only its own rows and its own slot, so runs are independent.
template <typename T>
void Engine::attention(int64_t l) {
  const model::ModelConfig& c = config_;
  const int64_t QD = c.q_dim(), KVD = c.kv_dim(), QKV = QD + 2 * KVD, D = c.head_dim;
  float *qkv = qkv_.data(), *att = att_.data();
  model::ScopedKernelTime t(timer_, model::KernelKind::kAttention);
  auto run_one = [&](const Run& r) {
    const int64_t n = r.end - r.begin;
    float* rq = qkv + r.begin * QKV;
    if (c.position == model::PositionType::kRope) {
      const float* cs = rope_cos_.data() + r.pos0 * (D / 2);
      const float* sn = rope_sin_.data() + r.pos0 * (D / 2);
      ops::rope_forward(rq, cs, sn, 1, n, c.n_head, D, QKV, RopeStyle::kHalfSplit);
      ops::rope_forward(rq + QD, cs, sn, 1, n, c.n_kv_head, D, QKV, RopeStyle::kHalfSplit);
    }
    T* kc = cache_.k<T>(l, r.slot) + r.pos0 * D;
    T* vc = cache_.v<T>(l, r.slot) + r.pos0 * D;
    const int64_t hs = cache_.head_stride();
    float *k_scale = nullptr, *v_scale = nullptr;  // int8: the slot's row scales, [kv head][position]
    if constexpr (std::is_same_v<T, int8_t>) k_scale = cache_.k_scale(l, r.slot), v_scale = cache_.v_scale(l, r.slot);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t hk = 0; hk < c.n_kv_head; ++hk) {
        const float* k_new = rq + i * QKV + QD + hk * D;
        T *kd = kc + hk * hs + i * D, *vd = vc + hk * hs + i * D;
        if constexpr (std::is_same_v<T, f16_t>) {
          ops::f32_to_f16(kd, k_new, D);
          ops::f32_to_f16(vd, k_new + KVD, D);
        } else if constexpr (std::is_same_v<T, int8_t>) {
          const int64_t at = hk * cache_.max_seq() + r.pos0 + i;
          ops::quantize_row_i8(kd, k_scale + at, k_new, D);
          ops::quantize_row_i8(vd, v_scale + at, k_new + KVD, D);
        } else {
          std::memcpy(kd, k_new, static_cast<size_t>(D) * sizeof(float));
          std::memcpy(vd, k_new + KVD, static_cast<size_t>(D) * sizeof(float));
        }
      }
    }
    const DecodeAttentionDims dims{.T_new = n, .pos0 = r.pos0, .H = c.n_head, .Hkv = c.n_kv_head, .D = D,
                                   .q_row_stride = QKV, .kv_row_stride = D, .kv_head_stride = hs,
                                   .window = c.window_of(l),
                                   .alibi_slopes = alibi_slopes_.empty() ? nullptr : alibi_slopes_.data(),
                                   .k_scale = k_scale, .v_scale = v_scale, .scale_row_stride = 1,
                                   .scale_head_stride = cache_.max_seq()};
    ops::attention_decode(att + r.begin * QD, rq, cache_.k<T>(l, r.slot), cache_.v<T>(l, r.slot), dims);
  };
  // Prefill chunks spread their (query, head) tasks over the threads inside attention_decode; decode
  // steps have too few tasks each for that, so several of them are spread over the threads one run per
  // task (the same arithmetic per run either way).
  int64_t n_single = 0;  // runs of one token (decode steps)
  for (const Run& r : runs_) n_single += r.end - r.begin == 1;
  const bool across_runs = n_single >= 2;
  for (const Run& r : runs_)
    if (!across_runs || r.end - r.begin > 1) run_one(r);
  if (across_runs) {
    const auto n_runs = static_cast<int64_t>(runs_.size());
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_runs; ++i) {
      const Run& r = runs_[static_cast<size_t>(i)];
      if (r.end - r.begin == 1) run_one(r);
    }
  }
}

void Engine::layer_forward(int64_t l, int64_t N) {
  const model::ModelConfig& c = config_;
  const LayerWeights& w = layers_[static_cast<size_t>(l)];
  const int64_t C = c.d_model, F = c.d_ff, QD = c.q_dim(), KVD = c.kv_dim(), QKV = QD + 2 * KVD;
  float *x = x_.data(), *ln = ln_.data(), *qkv = qkv_.data(), *att = att_.data(), *act = act_.data();

  // Attention block.
  model::norm_forward(timer_, w.norm1, ln, mean_.data(), rstd_.data(), x, N);
  run_linears(timer_, std::span<const PackedLinear>(w.qkv, static_cast<size_t>(w.n_qkv)), w.qkv_col, qkv, QKV, ln,
              C, N);
  if (cache_.dtype() == DType::kF16) attention<f16_t>(l);
  else if (cache_.dtype() == DType::kI8) attention<int8_t>(l);
  else attention<float>(l);
  {
    model::ScopedKernelTime t(timer_, model::KernelKind::kGemm);
    packed_linear_add(w.o, x, C, att, QD, N);
  }

  // MLP block (the residual added in the down projection's region).
  model::norm_forward(timer_, w.norm2, ln, mean_.data(), rstd_.data(), x, N);
  const MlpRows rows{.inp = ln, .ldi = C, .act = act, .lda = F, .x = x, .ldx = C, .N = N};
  model::ScopedKernelTime t(timer_, model::KernelKind::kGemm);  // the activation runs in the linears' region
  if (w.n_up == 2) packed_swiglu_mlp({.gate = w.up[0], .up = w.up[1], .down = w.down, .rows = rows});  // LLaMA
  else packed_gelu_mlp({.up = w.up[0], .down = w.down, .approx = c.gelu, .rows = rows});                // GPT-2
}

Result<int64_t> Engine::forward(std::span<const TokenInput> batch, LogitsFor which, float* logits) {
  ANVIL_RETURN_IF_ERROR(split_runs(batch));
  const model::ModelConfig& c = config_;
  const auto N = static_cast<int64_t>(batch.size());
  const int64_t C = c.d_model, V = c.vocab_size;
  {
    model::ScopedKernelTime t(timer_, model::KernelKind::kOther);  // x (N,C) = wte[token] (+ wpe[pos])
    for (int64_t i = 0; i < N; ++i) {
      const TokenInput& in = batch[static_cast<size_t>(i)];
      const float* e = wte_ + static_cast<int64_t>(in.token) * C;
      float* xi = x_.data() + i * C;
      if (wpe_) ops::add(xi, e, wpe_ + in.pos * C, C);
      else std::memcpy(xi, e, static_cast<size_t>(C) * sizeof(float));
    }
  }
  for (int64_t l = 0; l < c.n_layer; ++l) layer_forward(l, N);
  for (const Run& r : runs_) cache_.set_length(r.slot, r.pos0 + (r.end - r.begin));

  // Final norm and LM head on the wanted rows: all of them, or each run's last / the marked ones (gathered
  // first, in batch order).
  int64_t n_rows = N;
  const float* rows = x_.data();
  if (which != LogitsFor::kAll) {
    auto gather = [&](int64_t i) {
      std::memcpy(ln_.data() + n_rows * C, x_.data() + i * C, static_cast<size_t>(C) * sizeof(float));
      ++n_rows;
    };
    n_rows = 0;
    if (which == LogitsFor::kLastOfRun) {
      for (const Run& r : runs_) gather(r.end - 1);
    } else {
      for (int64_t i = 0; i < N; ++i)
        if (batch[static_cast<size_t>(i)].want_logits) gather(i);
    }
    rows = ln_.data();
    if (n_rows == 0) return n_rows;  // kMarked with nothing marked
  }
  model::norm_forward(timer_, norm_f_, lnf_.data(), mean_.data(), rstd_.data(), rows, n_rows);
  // logits (n_rows, V) = lnf @ W^T, W (V, C)
  model::ScopedKernelTime t(timer_, model::KernelKind::kGemm);
  packed_linear(lm_head_, logits, V, lnf_.data(), C, n_rows);
  return n_rows;
}

Status Engine::prefill(int64_t slot, std::span<const int32_t> ids, int64_t pos0, float* last_logits) {
  if (ids.empty()) return invalid_argument("[infer.prefill] empty prompt for slot {}", slot);
  std::vector<TokenInput> chunk;
  chunk.reserve(static_cast<size_t>(std::min<int64_t>(max_batch_, static_cast<int64_t>(ids.size()))));
  for (size_t b = 0; b < ids.size(); b += static_cast<size_t>(max_batch_)) {
    const size_t e = std::min(ids.size(), b + static_cast<size_t>(max_batch_));
    chunk.clear();
    for (size_t i = b; i < e; ++i)
      chunk.push_back(TokenInput{.slot = slot, .token = ids[i], .pos = pos0 + static_cast<int64_t>(i)});
    ANVIL_ASSIGN_OR_RETURN(int64_t n_rows, forward(chunk, LogitsFor::kLastOfRun, last_logits));
    (void)n_rows;
  }
  return ok_status();
}

Status Engine::decode(int64_t slot, int32_t token, int64_t pos, float* logits) {
  const TokenInput in{.slot = slot, .token = token, .pos = pos};
  ANVIL_ASSIGN_OR_RETURN(int64_t n_rows, forward(std::span<const TokenInput>(&in, 1), LogitsFor::kAll, logits));
  (void)n_rows;
  return ok_status();
}

}  // namespace anvil::infer
