// config.json <-> ModelConfig. Field names and defaults follow Hugging Face's GPT2Config and
// LlamaConfig (transformers configuration_gpt2.py / configuration_llama.py); every type or consistency
// error names the field and the value found.
#include "anvil/model/config.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"

namespace anvil::model {
namespace {

using nlohmann::json;

struct Reader {
  const json& j;
  const std::string& src;

  Status int_field(const char* key, int64_t& out, bool required) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return invalid_argument("[model.config] '{}': missing required field '{}'", src, key);
      return ok_status();
    }
    if (!it->is_number_integer())
      return invalid_argument("[model.config] '{}': field '{}' must be an integer, got {}", src, key, it->dump());
    out = it->get<int64_t>();
    return ok_status();
  }
  Status float_field(const char* key, float& out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return ok_status();
    if (!it->is_number())
      return invalid_argument("[model.config] '{}': field '{}' must be a number, got {}", src, key, it->dump());
    out = it->get<float>();
    return ok_status();
  }
  Status bool_field(const char* key, bool& out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return ok_status();
    if (!it->is_boolean())
      return invalid_argument("[model.config] '{}': field '{}' must be true or false, got {}", src, key, it->dump());
    out = it->get<bool>();
    return ok_status();
  }
  Status string_field(const char* key, std::string& out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return ok_status();
    if (!it->is_string())
      return invalid_argument("[model.config] '{}': field '{}' must be a string, got {}", src, key, it->dump());
    out = it->get<std::string>();
    return ok_status();
  }
};

const char* position_name(PositionType p) {
  switch (p) {
    case PositionType::kLearned: return "learned";
    case PositionType::kRope: return "rope";
    case PositionType::kAlibi: return "alibi";
  }
  return "?";
}

}  // namespace

Status validate_config(const ModelConfig& c) {
  auto positive = [](const char* name, int64_t v) -> Status {
    if (v <= 0) return invalid_argument("[model.config] field '{}' must be > 0, got {}", name, v);
    return ok_status();
  };
  const bool g = c.is_gpt2();
  ANVIL_RETURN_IF_ERROR(positive("vocab_size", c.vocab_size));
  ANVIL_RETURN_IF_ERROR(positive(g ? "n_embd" : "hidden_size", c.d_model));
  ANVIL_RETURN_IF_ERROR(positive(g ? "n_layer" : "num_hidden_layers", c.n_layer));
  ANVIL_RETURN_IF_ERROR(positive(g ? "n_head" : "num_attention_heads", c.n_head));
  ANVIL_RETURN_IF_ERROR(positive("num_key_value_heads", c.n_kv_head));
  ANVIL_RETURN_IF_ERROR(positive("head_dim", c.head_dim));
  ANVIL_RETURN_IF_ERROR(positive(g ? "n_inner" : "intermediate_size", c.d_ff));
  ANVIL_RETURN_IF_ERROR(positive(g ? "n_positions" : "max_position_embeddings", c.max_seq));
  if (g && c.d_model % c.n_head != 0)
    return invalid_argument("[model.config] n_embd {} is not divisible by n_head {}", c.d_model, c.n_head);
  if (g && c.n_kv_head != c.n_head)
    return invalid_argument("[model.config] gpt2 has no grouped-query attention: num_key_value_heads {} != n_head {}",
                            c.n_kv_head, c.n_head);
  if (c.n_head % c.n_kv_head != 0)
    return invalid_argument("[model.config] num_attention_heads {} is not divisible by num_key_value_heads {}",
                            c.n_head, c.n_kv_head);
  if (c.position == PositionType::kRope && c.head_dim % 2 != 0)
    return invalid_argument("[model.config] rope needs an even head_dim, got {}", c.head_dim);
  if (c.position == PositionType::kRope && !(c.rope_theta > 0))
    return invalid_argument("[model.config] rope_theta must be > 0, got {}", c.rope_theta);
  if (static_cast<int64_t>(c.layer_types.size()) != c.n_layer)
    return invalid_argument("[model.config] layer_types has {} entries, the model has {} layers",
                            c.layer_types.size(), c.n_layer);
  bool any_sliding = false;
  for (LayerType t : c.layer_types) any_sliding |= t == LayerType::kSliding;
  if (any_sliding && c.sliding_window <= 0)
    return invalid_argument("[model.config] layer_types has sliding_attention layers but sliding_window is {}",
                            c.sliding_window);
  if (!(c.norm_eps > 0)) return invalid_argument("[model.config] norm epsilon must be > 0, got {}", c.norm_eps);
  for (auto [name, p] : {std::pair{"embd_pdrop", c.embd_dropout}, std::pair{"resid_pdrop", c.resid_dropout},
                         std::pair{"attn_pdrop", c.attn_dropout}}) {
    if (!(p >= 0.0f && p < 1.0f)) return invalid_argument("[model.config] {} must be in [0, 1), got {}", name, p);
  }
  if (!(c.initializer_range > 0))
    return invalid_argument("[model.config] initializer_range must be > 0, got {}", c.initializer_range);
  return ok_status();
}

Result<ModelConfig> parse_config(const std::string& text, const std::string& src) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("[model.config] '{}': not valid JSON", src);
  if (!j.is_object()) return invalid_argument("[model.config] '{}': top level must be an object", src);
  Reader r{j, src};
  std::string model_type;
  ANVIL_RETURN_IF_ERROR(r.string_field("model_type", model_type));
  ModelConfig c;
  std::string position;
  if (model_type == "gpt2") {
    c.arch = Arch::kGpt2;
    c.vocab_size = 50257, c.max_seq = 1024, c.d_model = 768, c.n_layer = 12, c.n_head = 12;
    ANVIL_RETURN_IF_ERROR(r.int_field("vocab_size", c.vocab_size, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("n_positions", c.max_seq, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("n_embd", c.d_model, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("n_layer", c.n_layer, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("n_head", c.n_head, false));
    c.d_ff = 4 * c.d_model;
    ANVIL_RETURN_IF_ERROR(r.int_field("n_inner", c.d_ff, false));
    std::string act = "gelu_new";
    ANVIL_RETURN_IF_ERROR(r.string_field("activation_function", act));
    if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.gelu = GeluApprox::kTanh;
    else if (act == "gelu") c.gelu = GeluApprox::kErf;
    else
      return invalid_argument("[model.config] '{}': activation_function '{}' unsupported (gelu_new | gelu)", src, act);
    ANVIL_RETURN_IF_ERROR(r.float_field("layer_norm_epsilon", c.norm_eps));
    c.embd_dropout = c.resid_dropout = c.attn_dropout = 0.1f;  // HF GPT2Config defaults
    ANVIL_RETURN_IF_ERROR(r.float_field("embd_pdrop", c.embd_dropout));
    ANVIL_RETURN_IF_ERROR(r.float_field("resid_pdrop", c.resid_dropout));
    ANVIL_RETURN_IF_ERROR(r.float_field("attn_pdrop", c.attn_dropout));
    c.position = PositionType::kLearned;
    c.tie_embeddings = true;
  } else if (model_type == "llama") {
    c.arch = Arch::kLlama;
    c.vocab_size = 32000, c.d_model = 4096, c.d_ff = 11008, c.n_layer = 32, c.n_head = 32, c.max_seq = 2048;
    ANVIL_RETURN_IF_ERROR(r.int_field("vocab_size", c.vocab_size, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("hidden_size", c.d_model, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("intermediate_size", c.d_ff, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("num_hidden_layers", c.n_layer, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("num_attention_heads", c.n_head, false));
    ANVIL_RETURN_IF_ERROR(r.int_field("max_position_embeddings", c.max_seq, false));
    std::string act = "silu";
    ANVIL_RETURN_IF_ERROR(r.string_field("hidden_act", act));
    if (act != "silu") return invalid_argument("[model.config] '{}': hidden_act '{}' unsupported (silu)", src, act);
    c.norm_eps = 1e-6f;
    ANVIL_RETURN_IF_ERROR(r.float_field("rms_norm_eps", c.norm_eps));
    ANVIL_RETURN_IF_ERROR(r.float_field("rope_theta", c.rope_theta));
    c.attn_bias = c.mlp_bias = false;
    ANVIL_RETURN_IF_ERROR(r.bool_field("attention_bias", c.attn_bias));
    ANVIL_RETURN_IF_ERROR(r.bool_field("mlp_bias", c.mlp_bias));
    ANVIL_RETURN_IF_ERROR(r.float_field("attention_dropout", c.attn_dropout));
    ANVIL_RETURN_IF_ERROR(r.float_field("embd_dropout", c.embd_dropout));
    ANVIL_RETURN_IF_ERROR(r.float_field("resid_dropout", c.resid_dropout));
    c.position = PositionType::kRope;
    c.tie_embeddings = false;
  } else {
    return invalid_argument("[model.config] '{}': model_type '{}' unsupported (gpt2 | llama)", src, model_type);
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    return unimplemented("[model.config] '{}': rope_scaling is not supported", src);
  c.n_kv_head = c.n_head;
  ANVIL_RETURN_IF_ERROR(r.int_field("num_key_value_heads", c.n_kv_head, false));
  if (c.n_head > 0) c.head_dim = c.d_model / c.n_head;
  ANVIL_RETURN_IF_ERROR(r.int_field("head_dim", c.head_dim, false));
  ANVIL_RETURN_IF_ERROR(r.bool_field("tie_word_embeddings", c.tie_embeddings));
  ANVIL_RETURN_IF_ERROR(r.float_field("initializer_range", c.initializer_range));
  ANVIL_RETURN_IF_ERROR(r.string_field("position_embedding_type", position));
  if (position == "learned") c.position = PositionType::kLearned;
  else if (position == "rope") c.position = PositionType::kRope;
  else if (position == "alibi") c.position = PositionType::kAlibi;
  else if (!position.empty())
    return invalid_argument("[model.config] '{}': position_embedding_type '{}' unsupported (rope | alibi | learned)",
                            src, position);
  ANVIL_RETURN_IF_ERROR(r.int_field("sliding_window", c.sliding_window, false));
  c.layer_types.assign(static_cast<size_t>(std::max<int64_t>(c.n_layer, 0)), LayerType::kFull);
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    if (!it->is_array())
      return invalid_argument("[model.config] '{}': field 'layer_types' must be an array, got {}", src, it->dump());
    c.layer_types.clear();
    for (const json& e : *it) {
      std::string s = e.is_string() ? e.get<std::string>() : e.dump();
      if (s == "full_attention") c.layer_types.push_back(LayerType::kFull);
      else if (s == "sliding_attention") c.layer_types.push_back(LayerType::kSliding);
      else
        return invalid_argument("[model.config] '{}': layer_types entry {} must be \"full_attention\" or "
                                "\"sliding_attention\"", src, s);
    }
  } else if (c.sliding_window > 0) {
    // No layer_types: a sliding_window alone applies to every layer (Mistral semantics).
    std::fill(c.layer_types.begin(), c.layer_types.end(), LayerType::kSliding);
  }
  Status st = validate_config(c);
  if (!st.ok()) return st.with_context(fmt::format("'{}'", src));
  return c;
}

Result<ModelConfig> load_config(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_config(text, path);
}

std::string config_to_json(const ModelConfig& c) {
  json j;
  if (c.is_gpt2()) {
    j["model_type"] = "gpt2";
    j["architectures"] = {"GPT2LMHeadModel"};
    j["vocab_size"] = c.vocab_size;
    j["n_positions"] = c.max_seq;
    j["n_embd"] = c.d_model;
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_inner"] = c.d_ff;
    j["activation_function"] = c.gelu == GeluApprox::kTanh ? "gelu_new" : "gelu";
    j["layer_norm_epsilon"] = c.norm_eps;
    j["embd_pdrop"] = c.embd_dropout;
    j["resid_pdrop"] = c.resid_dropout;
    j["attn_pdrop"] = c.attn_dropout;
  } else {
    j["model_type"] = "llama";
    j["architectures"] = {"LlamaForCausalLM"};
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.d_model;
    j["intermediate_size"] = c.d_ff;
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["num_key_value_heads"] = c.n_kv_head;
    j["max_position_embeddings"] = c.max_seq;
    j["hidden_act"] = "silu";
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["attention_bias"] = c.attn_bias;
    j["mlp_bias"] = c.mlp_bias;
    j["attention_dropout"] = c.attn_dropout;
    j["embd_dropout"] = c.embd_dropout;
    j["resid_dropout"] = c.resid_dropout;
  }
  j["head_dim"] = c.head_dim;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["initializer_range"] = c.initializer_range;
  j["position_embedding_type"] = position_name(c.position);
  if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
  json types = json::array();
  for (LayerType t : c.layer_types) types.push_back(t == LayerType::kSliding ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  return j.dump(2) + "\n";
}

Result<ModelConfig> preset_config(const std::string& name) {
  std::string text;
  if (name == "S" || name == "gpt2-S")
    text = R"({"model_type":"gpt2","vocab_size":8192,"n_positions":256,"n_embd":256,"n_layer":4,"n_head":4,
               "activation_function":"gelu","embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})";
  else if (name == "M" || name == "gpt2-M")
    text = R"({"model_type":"gpt2","vocab_size":32768,"n_positions":512,"n_embd":512,"n_layer":8,"n_head":8,
               "activation_function":"gelu","embd_pdrop":0,"resid_pdrop":0,"attn_pdrop":0})";
  else if (name == "llama-S")
    text = R"({"model_type":"llama","vocab_size":8192,"hidden_size":256,"intermediate_size":688,
               "num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":2,
               "max_position_embeddings":256,"tie_word_embeddings":true})";
  else
    return not_found("[model.config] no preset named '{}' (S, M, gpt2-S, gpt2-M, llama-S)", name);
  return parse_config(text, "preset " + name);
}

Result<ModelConfig> config_from_arg(const std::string& arg) {
  if (std::filesystem::exists(arg)) {
    if (std::filesystem::is_directory(arg)) return load_config((std::filesystem::path(arg) / "config.json").string());
    return load_config(arg);
  }
  auto preset = preset_config(arg);
  if (preset.ok()) return preset;
  return not_found("[model.config] '{}' is neither a config file nor a preset (S, M, gpt2-S, gpt2-M, llama-S)", arg);
}

}  // namespace anvil::model
