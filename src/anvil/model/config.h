// ModelConfig: the typed form of a Hugging Face config.json for the two decoder families anvil trains,
// GPT-2 style (model_type "gpt2": LayerNorm, GELU, learned positions, biases) and LLaMA style
// ("llama": RMSNorm, SwiGLU, RoPE, no biases), plus the extensions HF lacks (position_embedding_type,
// sliding_window + layer_types, anvil dropout fields). parse/validate return Status errors naming the
// field; to_json writes the same field names back (round trip). Field list: docs/model.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "anvil/base/status.h"
#include "anvil/kernels/ops.h"

namespace anvil::model {

enum class Arch : uint8_t { kGpt2, kLlama };
enum class PositionType : uint8_t { kLearned, kRope, kAlibi };
enum class LayerType : uint8_t { kFull, kSliding };  // "full_attention" | "sliding_attention"

struct ModelConfig {
  Arch arch = Arch::kGpt2;
  int64_t vocab_size = 0;
  int64_t d_model = 0;     // n_embd | hidden_size
  int64_t n_layer = 0;     // n_layer | num_hidden_layers
  int64_t n_head = 0;      // n_head | num_attention_heads
  int64_t n_kv_head = 0;   // num_key_value_heads (GPT-2: = n_head)
  int64_t head_dim = 0;    // head_dim (default d_model / n_head)
  int64_t d_ff = 0;        // n_inner (null = 4*n_embd) | intermediate_size
  int64_t max_seq = 0;     // n_positions | max_position_embeddings
  GeluApprox gelu = GeluApprox::kTanh;  // GPT-2 activation_function: "gelu_new" tanh, "gelu" erf
  float norm_eps = 1e-5f;               // layer_norm_epsilon | rms_norm_eps
  PositionType position = PositionType::kLearned;
  float rope_theta = 10000.0f;
  bool attn_bias = true;  // GPT-2: always; LLaMA: attention_bias
  bool mlp_bias = true;   // GPT-2: always; LLaMA: mlp_bias
  bool tie_embeddings = true;
  int64_t sliding_window = 0;         // W: key j visible to query i iff i-W < j <= i
  std::vector<LayerType> layer_types;  // n_layer entries (all kFull when absent)
  float embd_dropout = 0.0f;   // embd_pdrop (LLaMA: anvil field "embd_dropout")
  float resid_dropout = 0.0f;  // resid_pdrop (LLaMA: anvil field "resid_dropout")
  float attn_dropout = 0.0f;   // attn_pdrop | attention_dropout: on attention probabilities, in training only
  float initializer_range = 0.02f;

  bool is_gpt2() const { return arch == Arch::kGpt2; }
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_kv_head * head_dim; }
  int64_t window_of(int64_t layer) const {
    return layer_types[static_cast<size_t>(layer)] == LayerType::kSliding ? sliding_window : 0;
  }
};

// Parses and validates config.json text; `source` names the file in errors.
Result<ModelConfig> parse_config(const std::string& json_text, const std::string& source = "config.json");
Result<ModelConfig> load_config(const std::string& path);
// Checks consistency (divisibility, layer_types length, window, ranges); parse_config calls it.
Status validate_config(const ModelConfig& c);
// HF-style config.json text (pretty-printed) with the family's field names.
std::string config_to_json(const ModelConfig& c);
// Built-in presets: "S", "M" (the bench configs, GPT-2 style with erf GELU), "gpt2-S", "llama-S".
Result<ModelConfig> preset_config(const std::string& name);
// A preset name, or else a path to a config.json.
Result<ModelConfig> config_from_arg(const std::string& name_or_path);

}  // namespace anvil::model
