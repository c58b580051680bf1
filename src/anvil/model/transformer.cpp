// Transformer construction: the parameter list under Hugging Face names (GPT2LMHeadModel without the
// "transformer." prefix; LlamaForCausalLM), initialisation (nanoGPT / HF LLaMA), safetensors io,
// parameter and FLOP counts, and plan(B, T) which sizes every activation once.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "anvil/base/file.h"
#include "anvil/base/rng.h"
#include "anvil/core/safetensors.h"
#include "anvil/model/transformer_internal.h"

namespace anvil::model {
namespace {

constexpr size_t kHeadChunkBytes = size_t{64} << 20;  // LM head logits processed in chunks of <= 64 MiB

}  // namespace

void Transformer::add_param(const std::string& name, ParamKind kind, const Shape& shape, float init_std,
                            float init_value) {
  Param p;
  p.name = name;
  p.kind = kind;
  p.shape = shape;
  p.init_std = init_std;
  p.init_value = init_value;
  params_.push_back(std::move(p));
}

Result<Transformer> Transformer::create(const ModelConfig& config) {
  ANVIL_RETURN_IF_ERROR(validate_config(config));
  Transformer m;
  m.cfg_ = config;
  const ModelConfig& c = m.cfg_;
  const int64_t C = c.d_model, F = c.d_ff, V = c.vocab_size, L = c.n_layer;
  const float std_w = c.initializer_range;
  const float std_proj = c.is_gpt2() ? std_w / std::sqrt(2.0f * static_cast<float>(L)) : std_w;
  const bool learned = c.position == PositionType::kLearned;
  // Parameters are listed first, then bound to views of one flat buffer.
  if (c.is_gpt2()) {
    m.add_param("wte.weight", ParamKind::kEmbedding, {V, C}, std_w, 0);
    if (learned) m.add_param("wpe.weight", ParamKind::kEmbedding, {c.max_seq, C}, std_w, 0);
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      m.add_param(p + "ln_1.weight", ParamKind::kNorm, {C}, 0, 1);
      m.add_param(p + "ln_1.bias", ParamKind::kBias, {C}, 0, 0);
      m.add_param(p + "attn.c_attn.weight", ParamKind::kMatrix, {C, 3 * c.q_dim()}, std_w, 0);
      m.add_param(p + "attn.c_attn.bias", ParamKind::kBias, {3 * c.q_dim()}, 0, 0);
      m.add_param(p + "attn.c_proj.weight", ParamKind::kMatrix, {c.q_dim(), C}, std_proj, 0);
      m.add_param(p + "attn.c_proj.bias", ParamKind::kBias, {C}, 0, 0);
      m.add_param(p + "ln_2.weight", ParamKind::kNorm, {C}, 0, 1);
      m.add_param(p + "ln_2.bias", ParamKind::kBias, {C}, 0, 0);
      m.add_param(p + "mlp.c_fc.weight", ParamKind::kMatrix, {C, F}, std_w, 0);
      m.add_param(p + "mlp.c_fc.bias", ParamKind::kBias, {F}, 0, 0);
      m.add_param(p + "mlp.c_proj.weight", ParamKind::kMatrix, {F, C}, std_proj, 0);
      m.add_param(p + "mlp.c_proj.bias", ParamKind::kBias, {C}, 0, 0);
    }
    m.add_param("ln_f.weight", ParamKind::kNorm, {C}, 0, 1);
    m.add_param("ln_f.bias", ParamKind::kBias, {C}, 0, 0);
  } else {
    m.add_param("model.embed_tokens.weight", ParamKind::kEmbedding, {V, C}, std_w, 0);
    if (learned) m.add_param("model.embed_positions.weight", ParamKind::kEmbedding, {c.max_seq, C}, std_w, 0);
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
        m.add_param(p + name + ".weight", ParamKind::kMatrix, {out, in}, std_w, 0);
        if (bias) m.add_param(p + name + ".bias", ParamKind::kBias, {out}, 0, 0);
      };
      m.add_param(p + "input_layernorm.weight", ParamKind::kNorm, {C}, 0, 1);
      linear("self_attn.q_proj", c.q_dim(), C, c.attn_bias);
      linear("self_attn.k_proj", c.kv_dim(), C, c.attn_bias);
      linear("self_attn.v_proj", c.kv_dim(), C, c.attn_bias);
      linear("self_attn.o_proj", C, c.q_dim(), c.attn_bias);
      m.add_param(p + "post_attention_layernorm.weight", ParamKind::kNorm, {C}, 0, 1);
      linear("mlp.gate_proj", F, C, c.mlp_bias);
      linear("mlp.up_proj", F, C, c.mlp_bias);
      linear("mlp.down_proj", C, F, c.mlp_bias);
    }
    m.add_param("model.norm.weight", ParamKind::kNorm, {C}, 0, 1);
  }
  if (!c.tie_embeddings) m.add_param("lm_head.weight", ParamKind::kMatrix, {V, C}, std_w, 0);

  int64_t total = 0;
  for (Param& p : m.params_) {
    p.offset = total;
    total += p.shape.numel();
  }
  m.flat_params_ = Tensor::empty({total});
  m.flat_grads_ = Tensor::empty({total});
  for (Param& p : m.params_) {
    const Shape& shape = p.shape;
    p.value = m.flat_params_.slice(0, p.offset, p.offset + shape.numel()).reshape(shape);
    p.grad = m.flat_grads_.slice(0, p.offset, p.offset + shape.numel()).reshape(shape);
  }
  if (c.position == PositionType::kAlibi) {
    m.alibi_slopes_.resize(static_cast<size_t>(c.n_head));
    ops::alibi_slopes(m.alibi_slopes_.data(), c.n_head);
  }
  m.build_weights();
  return m;
}

const Param* Transformer::find_param(const std::string& name) const {
  for (const Param& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

void Transformer::build_weights() {
  const ModelConfig& c = cfg_;
  auto w = std::make_shared<Weights>();
  auto val = [&](const std::string& name) -> float* {
    const Param* p = find_param(name);
    return p ? p->value.data<float>() : nullptr;
  };
  auto grad = [&](const std::string& name) -> float* {
    const Param* p = find_param(name);
    return p ? p->grad.data<float>() : nullptr;
  };
  auto linear = [&](const std::string& n, int64_t in, int64_t out, WeightLayout layout) {
    return Linear{.w = val(n + ".weight"), .b = val(n + ".bias"), .dw = grad(n + ".weight"), .db = grad(n + ".bias"),
                  .in = in, .out = out, .layout = layout};
  };
  auto norm = [&](const std::string& n) {
    return Norm{.w = val(n + ".weight"), .b = val(n + ".bias"), .dw = grad(n + ".weight"), .db = grad(n + ".bias"),
                .rms = !c.is_gpt2(), .eps = c.norm_eps, .C = c.d_model};
  };
  const int64_t C = c.d_model, F = c.d_ff;
  if (c.is_gpt2()) {
    w->wte = val("wte.weight"), w->dwte = grad("wte.weight");
    w->wpe = val("wpe.weight"), w->dwpe = grad("wpe.weight");
    w->norm_f = norm("ln_f");
  } else {
    w->wte = val("model.embed_tokens.weight"), w->dwte = grad("model.embed_tokens.weight");
    w->wpe = val("model.embed_positions.weight"), w->dwpe = grad("model.embed_positions.weight");
    w->norm_f = norm("model.norm");
  }
  w->lm_head = c.tie_embeddings ? w->wte : val("lm_head.weight");
  w->dlm_head = c.tie_embeddings ? w->dwte : grad("lm_head.weight");
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerWeights lw;
    if (c.is_gpt2()) {
      const std::string p = "h." + std::to_string(l) + ".";
      const auto io = WeightLayout::kInOut;
      lw.norm1 = norm(p + "ln_1"), lw.norm2 = norm(p + "ln_2");
      lw.qkv[0] = linear(p + "attn.c_attn", C, 3 * c.q_dim(), io), lw.n_qkv = 1;
      lw.o = linear(p + "attn.c_proj", c.q_dim(), C, io);
      lw.up[0] = linear(p + "mlp.c_fc", C, F, io), lw.n_up = 1;
      lw.down = linear(p + "mlp.c_proj", F, C, io);
    } else {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const auto oi = WeightLayout::kOutIn;
      lw.norm1 = norm(p + "input_layernorm"), lw.norm2 = norm(p + "post_attention_layernorm");
      lw.qkv[0] = linear(p + "self_attn.q_proj", C, c.q_dim(), oi);
      lw.qkv[1] = linear(p + "self_attn.k_proj", C, c.kv_dim(), oi);
      lw.qkv[2] = linear(p + "self_attn.v_proj", C, c.kv_dim(), oi);
      lw.qkv_col[1] = c.q_dim(), lw.qkv_col[2] = c.q_dim() + c.kv_dim(), lw.n_qkv = 3;
      lw.o = linear(p + "self_attn.o_proj", c.q_dim(), C, oi);
      lw.up[0] = linear(p + "mlp.gate_proj", C, F, oi), lw.up[1] = linear(p + "mlp.up_proj", C, F, oi), lw.n_up = 2;
      lw.down = linear(p + "mlp.down_proj", F, C, oi);
    }
    w->layers.push_back(lw);
  }
  w_ = std::move(w);
}

void Transformer::init_weights(uint64_t seed) {
  Rng root(seed);
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_[i];
    float* x = p.value.data<float>();
    const int64_t n = p.value.numel();
    if (p.init_std > 0) {
      Rng r = root.fork(i);
      for (int64_t j = 0; j < n; ++j) x[j] = static_cast<float>(r.normal()) * p.init_std;
    } else {
      for (int64_t j = 0; j < n; ++j) x[j] = p.init_value;
    }
  }
}

Status Transformer::read_weights(const std::string& path, bool map) {
  ANVIL_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(path));
  bool any_mapped = false;
  for (Param& p : params_) {
    if (!f.contains(p.name)) return not_found("[model.load] '{}': missing tensor '{}'", path, p.name);
    ANVIL_ASSIGN_OR_RETURN(Tensor t, f.get(p.name));
    if (t.shape() != p.value.shape())
      return invalid_argument("[model.load] '{}': tensor '{}' has shape {}, the config needs {}", path, p.name,
                              t.shape().to_string(), p.value.shape().to_string());
    if (t.dtype() != DType::kF32 && t.dtype() != DType::kBF16 && t.dtype() != DType::kF16)
      return invalid_argument("[model.load] '{}': tensor '{}' has dtype {}, expected F32, BF16 or F16", path, p.name,
                              dtype_name(t.dtype()));
    if (map && t.dtype() == DType::kF32) {
      p.value = std::move(t);  // a view of the mapping (get() copies only a misaligned tensor)
      any_mapped = true;
    } else {
      p.value.copy_from(t);
    }
  }
  auto ignorable = [&](const std::string& name) {
    // A tied head stored anyway; GPT-2 checkpoints' causal-mask buffers (h.N.attn.bias / masked_bias).
    auto ends_with = [&](std::string_view suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return (cfg_.tie_embeddings && name == "lm_head.weight") ||
           (cfg_.is_gpt2() && (ends_with(".attn.bias") || ends_with(".attn.masked_bias")));
  };
  for (const std::string& name : f.names()) {
    if (!find_param(name) && !ignorable(name))
      return invalid_argument("[model.load] '{}': unexpected tensor '{}' for this config", path, name);
  }
  if (any_mapped) {
    mapped_ = true;
    build_weights();  // the forward's pointers follow the parameters into the mapping
  }
  return ok_status();
}

Status Transformer::save_weights(const std::string& path) const {
  NamedTensors tensors;
  for (const Param& p : params_) tensors.emplace_back(p.name, p.value);
  return save_safetensors(path, tensors, {{"format", "pt"}});
}

Status Transformer::save(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("[model.save] cannot create directory '{}': {}", dir, ec.message());
  ANVIL_RETURN_IF_ERROR(write_file_atomic((std::filesystem::path(dir) / "config.json").string(), config_to_json(cfg_)));
  return save_weights((std::filesystem::path(dir) / "model.safetensors").string());
}

Result<Transformer> Transformer::load(const std::string& dir) {
  ANVIL_ASSIGN_OR_RETURN(ModelConfig c, load_config((std::filesystem::path(dir) / "config.json").string()));
  ANVIL_ASSIGN_OR_RETURN(Transformer m, create(c));
  ANVIL_RETURN_IF_ERROR(m.load_weights((std::filesystem::path(dir) / "model.safetensors").string()));
  return m;
}

Result<Transformer> Transformer::load_mapped(const std::string& dir) {
  ANVIL_ASSIGN_OR_RETURN(ModelConfig c, load_config((std::filesystem::path(dir) / "config.json").string()));
  ANVIL_ASSIGN_OR_RETURN(Transformer m, create(c));  // its flat buffers stay untouched zero pages
  ANVIL_RETURN_IF_ERROR(m.read_weights((std::filesystem::path(dir) / "model.safetensors").string(), true));
  return m;
}

int64_t Transformer::n_params_non_embedding() const {
  int64_t n = n_params();
  for (const Param& p : params_)
    if (p.kind == ParamKind::kEmbedding) n -= p.value.numel();
  return n;
}

double Transformer::train_flops_per_token(int64_t T) const {
  int64_t n = n_params();
  for (const Param& p : params_)
    if (p.name == "wpe.weight" || p.name == "model.embed_positions.weight") n -= p.value.numel();
  return 6.0 * static_cast<double>(n) +
         12.0 * static_cast<double>(cfg_.n_layer * cfg_.q_dim()) * static_cast<double>(T);
}

Status Transformer::plan(int64_t B, int64_t T, const PlanOptions& opt) {
  const ModelConfig& c = cfg_;
  if (B <= 0 || T <= 0) return invalid_argument("[model.plan] batch {} and context {} must be > 0", B, T);
  if (mapped_ && opt.bf16_buffers)
    return invalid_argument("[model.plan] the model's weights are mapped from its checkpoint (load_mapped, for "
                               "inference): its bf16 weight copy would be made from the flat buffer, which does "
                               "not hold them; plan with bf16_buffers = false, or load() it");
  if (T > c.max_seq && c.position == PositionType::kLearned)
    return invalid_argument("[model.plan] context {} exceeds the {} learned positions", T, c.max_seq);
  const int64_t N = B * T, C = c.d_model, F = c.d_ff, V = c.vocab_size;
  const int64_t QKV = c.q_dim() + 2 * c.kv_dim();
  auto p = std::make_shared<Plan>();
  auto f = [&](int64_t n) {
    p->keep.push_back(Tensor::empty({n}));
    return p->keep.back().data<float>();
  };
  auto mask = [&](float prob) -> uint8_t* {
    if (prob <= 0) return nullptr;
    p->keep.push_back(Tensor::empty({N * C}, DType::kI8));
    return static_cast<uint8_t*>(p->keep.back().raw_data());
  };
  const bool llama = !c.is_gpt2();
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerActs a;
    a.resid_in = f(N * C);
    a.ln1 = f(N * C), a.ln1_mean = f(N), a.ln1_rstd = f(N);
    a.qkv = f(N * QKV);
    a.att = f(N * c.q_dim()), a.att_lse = f(B * c.n_head * T);
    a.mid = f(N * C);
    a.ln2 = f(N * C), a.ln2_mean = f(N), a.ln2_rstd = f(N);
    a.fc = f(N * F);
    if (llama) a.fc_up = f(N * F);
    a.act = f(N * F);
    a.mask_attn = mask(c.resid_dropout), a.mask_mlp = mask(c.resid_dropout);
    p->layers.push_back(a);
  }
  p->resid_out = f(N * C);
  p->lnf = f(N * C), p->lnf_mean = f(N), p->lnf_rstd = f(N);
  p->mask_embd = mask(c.embd_dropout);
  if (c.position == PositionType::kRope) {
    p->rope_cos = f(T * c.head_dim / 2), p->rope_sin = f(T * c.head_dim / 2);
    ops::rope_table(p->rope_cos, p->rope_sin, T, c.head_dim, c.rope_theta, 0);
  }
  p->proj = f(N * C);
  p->dres = f(N * C), p->dproj = f(N * C), p->dln = f(N * C);
  p->dqkv = f(N * QKV), p->datt = f(N * c.q_dim()), p->dfc = f(N * F);
  if (llama) p->dgate = f(N * F), p->dup = f(N * F);
  p->head_rows = opt.head_rows > 0 ? std::min(opt.head_rows, N)
                               : std::clamp<int64_t>(static_cast<int64_t>(kHeadChunkBytes / sizeof(float)) / V, 1, N);
  p->head_logits = f(p->head_rows * V);
  p->losses = f(N), p->ce_lse = f(N);
  if (opt.bf16_buffers) {
    auto h = [&](int64_t n) {
      p->keep.push_back(Tensor::empty({n}, DType::kBF16));
      return p->keep.back().data<bf16_t>();
    };
    const int64_t width = std::max({C, QKV, F, c.q_dim()});
    p->params16 = h(n_params()), p->a16 = h(N * width), p->b16 = h(N * width), p->head16 = h(p->head_rows * V);
  }
  plan_ = std::move(p);
  B_ = B, T_ = T;
  return ok_status();
}

Status Transformer::validate_batch(const int32_t* ids, const int32_t* targets, int32_t ignore_index) const {
  const int64_t N = B_ * T_, V = cfg_.vocab_size;
  for (int64_t i = 0; i < N; ++i) {
    if (ids[i] < 0 || ids[i] >= V)
      return out_of_range("[model.batch] token id {} at position {} is outside the vocabulary [0, {})", ids[i], i, V);
    if (targets && targets[i] != ignore_index && (targets[i] < 0 || targets[i] >= V))
      return out_of_range("[model.batch] target {} at position {} is neither ignore_index {} nor in [0, {})",
                          targets[i], i, ignore_index, V);
  }
  return ok_status();
}

size_t Transformer::activation_bytes() const {
  size_t n = 0;
  if (plan_)
    for (const Tensor& t : plan_->keep) n += t.nbytes();
  return n;
}

void Transformer::zero_grad() { std::memset(flat_grads_.raw_data(), 0, flat_grads_.nbytes()); }

}  // namespace anvil::model
