// Private to model/: the per-layer weight pointers (into the flat parameter/gradient buffers) and the
// planned activation buffers of a Transformer. Pointers stay valid for the Transformer's lifetime
// (flat buffers never move; plan() replaces the whole Plan).
#pragma once

#include <vector>

#include "anvil/model/layers.h"
#include "anvil/model/transformer.h"

namespace anvil::model {

struct LayerWeights {
  Norm norm1, norm2;
  Linear qkv[3];           // GPT-2: c_attn only (fused); LLaMA: q_proj, k_proj, v_proj
  int64_t qkv_col[3] = {};  // column offset of each in the fused (N, q_dim + 2 kv_dim) buffer
  int n_qkv = 0;
  Linear o;                // c_proj | o_proj
  Linear up[2];            // GPT-2: c_fc; LLaMA: gate_proj, up_proj
  int n_up = 0;
  Linear down;             // mlp.c_proj | down_proj
};

struct Transformer::Weights {
  const float* wte = nullptr;
  float* dwte = nullptr;
  const float* wpe = nullptr;  // learned positions or null
  float* dwpe = nullptr;
  std::vector<LayerWeights> layers;
  Norm norm_f;
  const float* lm_head = nullptr;  // = wte when tied
  float* dlm_head = nullptr;
};

// Activations a layer's backward needs, saved by the training forward.
struct LayerActs {
  float* resid_in = nullptr;  // (N, C) input of the layer
  float* ln1 = nullptr;       // (N, C)
  float* ln1_mean = nullptr;  // (N)
  float* ln1_rstd = nullptr;  // (N)
  float* qkv = nullptr;       // (N, q_dim + 2 kv_dim), q and k after RoPE
  float* att = nullptr;       // (N, q_dim) attention output
  float* att_lse = nullptr;   // (B, H, T)
  float* mid = nullptr;       // (N, C) residual after attention
  float* ln2 = nullptr;
  float* ln2_mean = nullptr;
  float* ln2_rstd = nullptr;
  float* fc = nullptr;        // (N, F) pre-activation (GPT-2) | gate (LLaMA)
  float* fc_up = nullptr;     // (N, F) up (LLaMA only)
  float* act = nullptr;       // (N, F) gelu(fc) | silu(gate) * up: the down projection's input
  uint8_t* mask_attn = nullptr;  // (N*C) residual dropout masks, null when p == 0
  uint8_t* mask_mlp = nullptr;
};

struct Transformer::Plan {
  std::vector<Tensor> keep;  // owns every buffer below
  std::vector<LayerActs> layers;
  float* resid_out = nullptr;  // (N, C) output of the last layer
  float* lnf = nullptr;
  float* lnf_mean = nullptr;
  float* lnf_rstd = nullptr;
  uint8_t* mask_embd = nullptr;
  float* rope_cos = nullptr;  // (T, D/2)
  float* rope_sin = nullptr;
  // Backward scratch.
  float* proj = nullptr;   // (N, C) output projections before the residual add
  float* dres = nullptr;   // (N, C) gradient of the residual stream
  float* dproj = nullptr;  // (N, C)
  float* dln = nullptr;    // (N, C)
  float* dqkv = nullptr;   // (N, q_dim + 2 kv_dim)
  float* datt = nullptr;   // (N, q_dim)
  float* dfc = nullptr;    // (N, F)
  float* dgate = nullptr;  // (N, F) LLaMA
  float* dup = nullptr;    // (N, F) LLaMA
  // LM head + cross-entropy, processed head_rows rows at a time.
  int64_t head_rows = 0;
  float* head_logits = nullptr;  // (head_rows, V)
  float* losses = nullptr;       // (N)
  float* ce_lse = nullptr;       // (N)
  // bf16 GEMM operands (PlanOptions::bf16_buffers): the weights' bf16 copy and two scratch buffers.
  bf16_t* params16 = nullptr;  // (n_params)
  bf16_t* a16 = nullptr;       // (N * max width)
  bf16_t* b16 = nullptr;       // (N * max width)
  bf16_t* head16 = nullptr;    // (head_rows, V) dlogits
  const int32_t* ids = nullptr;  // the forward's input ids, read again by the embedding backward
};

}  // namespace anvil::model
