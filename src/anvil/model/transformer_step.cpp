// The training step: forward (saving what backward needs), the LM head + cross-entropy fused chunk by
// chunk (logits for head_rows rows -> CE forward -> CE backward in place -> dW_head += , dx =), and the
// hand-written backward mirroring each layer. Pre-norm residual blocks as in GPT-2 / LLaMA:
//   mid = x + drop(o_proj(attn(norm1(x))))      out = mid + drop(down(act(up(norm2(mid)))))
// (attn drops its probabilities too when attn_dropout > 0: inside the fused kernel, mask from a seed).
// Shapes: N = B*T rows, C = d_model, F = d_ff, QKV = q_dim + 2*kv_dim (the fused q|k|v row).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "anvil/model/transformer_internal.h"

namespace anvil::model {
namespace {

enum class DropSite : uint64_t { kEmbedding = 0, kAttention = 1, kMlp = 2, kAttentionProbs = 3 };

uint64_t dropout_seed(uint64_t seed, uint64_t step, int64_t layer, DropSite site) {
  uint64_t x = seed ^ 0x9E3779B97F4A7C15ull;
  for (uint64_t v : {step, static_cast<uint64_t>(layer + 1), static_cast<uint64_t>(site)}) {
    x ^= v + 0x9E3779B97F4A7C15ull + (x << 6) + (x >> 2);
    x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
  }
  return x;
}

// Layer l's attention call on the fused qkv rows; attention-probability dropout only in training, with
// the same (seed, step, layer) seed in forward and backward so both see one mask.
AttentionDims attention_dims(const ModelConfig& c, int64_t B, int64_t T, int64_t l, const float* alibi_slopes,
                             const StepOptions& opt) {
  const int64_t QKV = c.q_dim() + 2 * c.kv_dim();
  const bool drop = opt.mode == Mode::kTrain && c.attn_dropout > 0;
  return AttentionDims{.B = B, .T = T, .H = c.n_head, .Hkv = c.n_kv_head, .D = c.head_dim,
                       .q_row_stride = QKV, .k_row_stride = QKV, .v_row_stride = QKV, .scale = 0.0f,
                       .window = c.window_of(l), .alibi_slopes = alibi_slopes,
                       .dropout_p = drop ? c.attn_dropout : 0.0f,
                       .dropout_seed = drop ? dropout_seed(opt.seed, opt.step, l, DropSite::kAttentionProbs) : 0};
}

}  // namespace

LinearCall Transformer::linear_call(Precision precision) {
  Plan& p = *plan_;
  LinearCall call{.precision = precision, .timer = &timer_, .N = B_ * T_};
  if (precision == Precision::kBF16 && p.params16)
    call.params_base = flat_params_.data<float>(), call.params16 = p.params16, call.a16 = p.a16, call.b16 = p.b16;
  return call;
}

void Transformer::forward_blocks(const int32_t* ids, const StepOptions& opt) {
  Plan& p = *plan_;
  const int64_t N = B_ * T_, C = cfg_.d_model;
  p.ids = ids;
  if (opt.precision == Precision::kBF16 && p.params16) {
    ScopedKernelTime t(timer_, KernelKind::kGemm);  // the weights' bf16 copy, once per step
    ops::f32_to_bf16(p.params16, flat_params_.data<float>(), flat_params_.numel());
  }
  float* x0 = cfg_.n_layer > 0 ? p.layers[0].resid_in : p.resid_out;
  {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    ops::embedding_forward(x0, ids, w_->wte, w_->wpe, N, T_, C);  // x0 (N,C) = wte[ids] (+ wpe[t])
    if (opt.mode == Mode::kTrain && p.mask_embd)
      ops::dropout_forward(x0, p.mask_embd, N * C, cfg_.embd_dropout,
                           dropout_seed(opt.seed, opt.step, -1, DropSite::kEmbedding));
  }
  for (int64_t l = 0; l < cfg_.n_layer; ++l) layer_forward(l, opt);
  norm_forward(timer_, w_->norm_f, p.lnf, p.lnf_mean, p.lnf_rstd, p.resid_out, N);
}

void Transformer::layer_forward(int64_t l, const StepOptions& opt) {
  Plan& p = *plan_;
  const ModelConfig& c = cfg_;
  const LayerWeights& w = w_->layers[static_cast<size_t>(l)];
  LayerActs& a = p.layers[static_cast<size_t>(l)];
  const int64_t N = B_ * T_, C = c.d_model, F = c.d_ff, QD = c.q_dim(), KVD = c.kv_dim(), QKV = QD + 2 * KVD;
  float* out = l + 1 < c.n_layer ? p.layers[static_cast<size_t>(l + 1)].resid_in : p.resid_out;
  const bool drop = opt.mode == Mode::kTrain && c.resid_dropout > 0;
  const LinearCall call = linear_call(opt.precision);

  // Attention block.
  norm_forward(timer_, w.norm1, a.ln1, a.ln1_mean, a.ln1_rstd, a.resid_in, N);
  for (int i = 0; i < w.n_qkv; ++i) linear_forward(call, w.qkv[i], a.qkv + w.qkv_col[i], QKV, a.ln1, C);
  if (c.position == PositionType::kRope) {
    ScopedKernelTime t(timer_, KernelKind::kAttention);
    ops::rope_forward(a.qkv, p.rope_cos, p.rope_sin, B_, T_, c.n_head, c.head_dim, QKV, RopeStyle::kHalfSplit);
    ops::rope_forward(a.qkv + QD, p.rope_cos, p.rope_sin, B_, T_, c.n_kv_head, c.head_dim, QKV, RopeStyle::kHalfSplit);
  }
  const AttentionDims dims = attention_dims(c, B_, T_, l, alibi_slopes_.empty() ? nullptr : alibi_slopes_.data(), opt);
  {
    ScopedKernelTime t(timer_, KernelKind::kAttention);
    ops::attention_forward(a.att, a.att_lse, a.qkv, a.qkv + QD, a.qkv + QD + KVD, dims);
  }
  linear_forward(call, w.o, p.proj, C, a.att, QD);
  {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    if (drop)
      ops::dropout_forward(p.proj, a.mask_attn, N * C, c.resid_dropout,
                           dropout_seed(opt.seed, opt.step, l, DropSite::kAttention));
    ops::add(a.mid, a.resid_in, p.proj, N * C);
  }

  // MLP block.
  norm_forward(timer_, w.norm2, a.ln2, a.ln2_mean, a.ln2_rstd, a.mid, N);
  linear_forward(call, w.up[0], a.fc, F, a.ln2, C);
  if (w.n_up == 2) linear_forward(call, w.up[1], a.fc_up, F, a.ln2, C);
  {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    if (c.is_gpt2()) ops::gelu_forward(a.act, a.fc, N * F, c.gelu);
    else ops::swiglu_forward(a.act, a.fc, a.fc_up, N * F);
  }
  linear_forward(call, w.down, p.proj, C, a.act, F);
  {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    if (drop)
      ops::dropout_forward(p.proj, a.mask_mlp, N * C, c.resid_dropout, dropout_seed(opt.seed, opt.step, l, DropSite::kMlp));
    ops::add(out, a.mid, p.proj, N * C);
  }
}

float Transformer::head_forward_backward(const int32_t* targets, const StepOptions& opt, HeadPass pass) {
  Plan& p = *plan_;
  const int64_t N = B_ * T_, C = cfg_.d_model, V = cfg_.vocab_size;
  int64_t n_valid = 0;
  for (int64_t i = 0; i < N; ++i) n_valid += targets[i] != opt.ignore_index;
  const int64_t n_norm = opt.loss_normalizer > 0 ? opt.loss_normalizer : n_valid;
  const float dloss = n_norm > 0 ? 1.0f / static_cast<float>(n_norm) : 0.0f;
  const Precision prec = opt.precision;
  const bool b16 = prec == Precision::kBF16 && p.params16;
  const bf16_t* w16 = b16 ? p.params16 + (w_->lm_head - flat_params_.data<float>()) : nullptr;
  for (int64_t r0 = 0; r0 < N; r0 += p.head_rows) {
    const int64_t R = std::min(p.head_rows, N - r0);
    const float* x = p.lnf + r0 * C;  // (R, C)
    {
      ScopedKernelTime t(timer_, KernelKind::kGemm);  // logits (R,V) = x @ W^T, W (V,C)
      if (b16) {
        to_bf16_rows(p.a16, x, R, C, C);
        ops::gemm_bf16(Transpose::kNo, Transpose::kYes, R, V, C, 1.0f, p.a16, C, w16, C, 0.0f, p.head_logits, V);
      } else {
        ops::gemm(prec, Transpose::kNo, Transpose::kYes, R, V, C, 1.0f, x, C, w_->lm_head, C, 0.0f, p.head_logits, V);
      }
    }
    {
      ScopedKernelTime t(timer_, KernelKind::kCrossEntropy);
      ops::cross_entropy_forward(p.losses + r0, p.ce_lse + r0, p.head_logits, targets + r0, R, V,
                                 opt.label_smoothing, opt.ignore_index);
      if (pass == HeadPass::kLossOnly) continue;
      ops::cross_entropy_backward(p.head_logits, p.head_logits, p.ce_lse + r0, targets + r0, R, V,
                                  opt.label_smoothing, opt.ignore_index, dloss);  // in place: dlogits
    }
    const auto t0 = std::chrono::steady_clock::now();
    {
      ScopedKernelTime t(timer_, KernelKind::kGemm);
      // dW (V,C) += dlogits^T @ x;  dx (R,C) = dlogits @ W.
      if (b16) {
        to_bf16_rows(p.head16, p.head_logits, R, V, V);
        ops::gemm_bf16(Transpose::kYes, Transpose::kNo, V, C, R, 1.0f, p.head16, V, p.a16, C, 1.0f, w_->dlm_head, C);
        ops::gemm_bf16(Transpose::kNo, Transpose::kNo, R, C, V, 1.0f, p.head16, V, w16, C, 0.0f, p.dln + r0 * C, C);
      } else {
        ops::gemm(prec, Transpose::kYes, Transpose::kNo, V, C, R, 1.0f, p.head_logits, V, x, C, 1.0f, w_->dlm_head, C);
        ops::gemm(prec, Transpose::kNo, Transpose::kNo, R, C, V, 1.0f, p.head_logits, V, w_->lm_head, C, 0.0f,
                  p.dln + r0 * C, C);
      }
    }
    if (timer_.enabled)
      timer_.head_backward_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double sum = 0.0;
  for (int64_t i = 0; i < N; ++i) sum += p.losses[i];
  return n_valid > 0 ? static_cast<float>(sum / static_cast<double>(n_valid)) : std::numeric_limits<float>::quiet_NaN();
}

float Transformer::forward(const int32_t* ids, const int32_t* targets, const StepOptions& opt) {
  ANVIL_CHECK(plan_ != nullptr, "Transformer::forward before plan()");
  forward_blocks(ids, opt);
  return head_forward_backward(targets, opt, HeadPass::kLossAndGrad);
}

float Transformer::eval_loss(const int32_t* ids, const int32_t* targets, const StepOptions& opt) {
  ANVIL_CHECK(plan_ != nullptr, "Transformer::eval_loss before plan()");
  StepOptions eval = opt;
  eval.mode = Mode::kEval;
  forward_blocks(ids, eval);
  return head_forward_backward(targets, eval, HeadPass::kLossOnly);
}

void Transformer::layer_backward(int64_t l, const StepOptions& opt) {
  Plan& p = *plan_;
  const ModelConfig& c = cfg_;
  const LayerWeights& w = w_->layers[static_cast<size_t>(l)];
  const LayerActs& a = p.layers[static_cast<size_t>(l)];
  const int64_t N = B_ * T_, C = c.d_model, F = c.d_ff, QD = c.q_dim(), KVD = c.kv_dim(), QKV = QD + 2 * KVD;
  const bool drop = opt.mode == Mode::kTrain && c.resid_dropout > 0;
  const LinearCall call = linear_call(opt.precision);
  // p.dres holds d(out) on entry and d(resid_in) on exit (the residual path passes it through, the
  // two norm backwards accumulate into it).

  // MLP block backward.
  float* dproj = p.dres;
  if (drop) {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    std::memcpy(p.dproj, p.dres, static_cast<size_t>(N * C) * sizeof(float));
    ops::dropout_backward(p.dproj, a.mask_mlp, N * C, c.resid_dropout);
    dproj = p.dproj;
  }
  linear_backward(call, w.down, p.dfc, 0.0f, dproj, C, a.act, F);  // dact (N,F) =
  if (c.is_gpt2()) {
    {
      ScopedKernelTime t(timer_, KernelKind::kOther);
      ops::gelu_backward(p.dfc, a.fc, p.dfc, N * F, c.gelu);
    }
    linear_backward(call, w.up[0], p.dln, 0.0f, p.dfc, F, a.ln2, C);
  } else {
    {
      ScopedKernelTime t(timer_, KernelKind::kOther);
      ops::swiglu_backward(p.dgate, p.dup, a.fc, a.fc_up, p.dfc, N * F);
    }
    linear_backward(call, w.up[0], p.dln, 0.0f, p.dgate, F, a.ln2, C);
    linear_backward(call, w.up[1], p.dln, 1.0f, p.dup, F, a.ln2, C);
  }
  norm_backward(timer_, w.norm2, p.dres, p.dln, a.mid, a.ln2_mean, a.ln2_rstd, N);  // dres = d(mid)

  // Attention block backward.
  dproj = p.dres;
  if (drop) {
    ScopedKernelTime t(timer_, KernelKind::kOther);
    std::memcpy(p.dproj, p.dres, static_cast<size_t>(N * C) * sizeof(float));
    ops::dropout_backward(p.dproj, a.mask_attn, N * C, c.resid_dropout);
    dproj = p.dproj;
  }
  linear_backward(call, w.o, p.datt, 0.0f, dproj, C, a.att, QD);
  const AttentionDims dims = attention_dims(c, B_, T_, l, alibi_slopes_.empty() ? nullptr : alibi_slopes_.data(), opt);
  {
    ScopedKernelTime t(timer_, KernelKind::kAttention);
    ops::attention_backward(p.dqkv, p.dqkv + QD, p.dqkv + QD + KVD, p.datt, a.att, a.att_lse, a.qkv, a.qkv + QD,
                            a.qkv + QD + KVD, dims);
    if (c.position == PositionType::kRope) {
      ops::rope_backward(p.dqkv, p.rope_cos, p.rope_sin, B_, T_, c.n_head, c.head_dim, QKV, RopeStyle::kHalfSplit);
      ops::rope_backward(p.dqkv + QD, p.rope_cos, p.rope_sin, B_, T_, c.n_kv_head, c.head_dim, QKV,
                         RopeStyle::kHalfSplit);
    }
  }
  for (int i = 0; i < w.n_qkv; ++i)
    linear_backward(call, w.qkv[i], p.dln, i == 0 ? 0.0f : 1.0f, p.dqkv + w.qkv_col[i], QKV, a.ln1, C);
  norm_backward(timer_, w.norm1, p.dres, p.dln, a.resid_in, a.ln1_mean, a.ln1_rstd, N);  // dres = d(resid_in)
}

void Transformer::backward(const StepOptions& opt) {
  ANVIL_CHECK(plan_ != nullptr && plan_->ids != nullptr, "Transformer::backward before forward()");
  Plan& p = *plan_;
  const int64_t N = B_ * T_, C = cfg_.d_model;
  std::memset(p.dres, 0, static_cast<size_t>(N * C) * sizeof(float));
  norm_backward(timer_, w_->norm_f, p.dres, p.dln, p.resid_out, p.lnf_mean, p.lnf_rstd, N);
  for (int64_t l = cfg_.n_layer - 1; l >= 0; --l) layer_backward(l, opt);
  ScopedKernelTime t(timer_, KernelKind::kOther);
  if (opt.mode == Mode::kTrain && p.mask_embd) ops::dropout_backward(p.dres, p.mask_embd, N * C, cfg_.embd_dropout);
  ops::embedding_backward(w_->dwte, w_->dwpe, p.dres, p.ids, N, T_, C);
}

float Transformer::forward_backward(const int32_t* ids, const int32_t* targets, const StepOptions& opt) {
  const float loss = forward(ids, targets, opt);
  backward(opt);
  return loss;
}

void Transformer::logits(const int32_t* ids, float* out, Precision precision) {
  ANVIL_CHECK(plan_ != nullptr, "Transformer::logits before plan()");
  const StepOptions opt{.precision = precision, .mode = Mode::kEval};
  forward_blocks(ids, opt);
  const int64_t N = B_ * T_, C = cfg_.d_model, V = cfg_.vocab_size;
  ScopedKernelTime t(timer_, KernelKind::kGemm);  // logits (N,V) = lnf (N,C) @ W^T
  if (precision == Precision::kBF16 && plan_->params16) {
    to_bf16_rows(plan_->a16, plan_->lnf, N, C, C);
    const bf16_t* w16 = plan_->params16 + (w_->lm_head - flat_params_.data<float>());
    ops::gemm_bf16(Transpose::kNo, Transpose::kYes, N, V, C, 1.0f, plan_->a16, C, w16, C, 0.0f, out, V);
    return;
  }
  ops::gemm(precision, Transpose::kNo, Transpose::kYes, N, V, C, 1.0f, plan_->lnf, C, w_->lm_head, C, 0.0f, out, V);
}

}  // namespace anvil::model
