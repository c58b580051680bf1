// `anvil model init` (config.json + freshly initialised model.safetensors) and `anvil model info`
// (parameter counts, FLOPs per token). Parsing and printing only; the work is in model/.
#include <cstdio>
#include <filesystem>
#include <optional>

#include "anvil/cli/command.h"
#include "anvil/core/safetensors.h"
#include "anvil/model/transformer.h"

namespace anvil::cli {
namespace {

const char* kind_name(model::ParamKind k) {
  switch (k) {
    case model::ParamKind::kEmbedding: return "embedding";
    case model::ParamKind::kMatrix: return "matrix";
    case model::ParamKind::kBias: return "bias";
    case model::ParamKind::kNorm: return "norm";
  }
  return "?";
}

std::string human(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}K", v / 1e3);
  return fmt::format("{:.0f}", v);
}

int run_info(const std::string& dir, bool verbose) {
  const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
  auto cfg = model::load_config(config_path);
  if (!cfg.ok()) return report_failure("model info", cfg.status());
  auto m = model::Transformer::create(*cfg);
  if (!m.ok()) return report_failure("model info", m.status());
  const model::ModelConfig& c = *cfg;
  const std::string weights = (std::filesystem::path(dir) / "model.safetensors").string();
  std::string weights_note = "absent";
  if (std::filesystem::exists(weights)) {
    auto f = SafetensorsFile::open(weights);
    if (!f.ok()) return report_failure("model info", f.status());
    for (const model::Param& p : m->params()) {
      const SafetensorsEntry* e = f->find(p.name);
      if (!e) return report_failure("model info", not_found("[model.info] '{}': missing tensor '{}'", weights, p.name));
      if (Shape(e->shape) != p.shape)
        return report_failure("model info", invalid_argument("[model.info] '{}': tensor '{}' has shape {}, config needs {}",
                                                             weights, p.name, Shape(e->shape).to_string(),
                                                             p.shape.to_string()));
    }
    weights_note = fmt::format("{} tensors, shapes match the config", f->entries().size());
  }
  const char* pos = c.position == model::PositionType::kLearned ? "learned"
                    : c.position == model::PositionType::kRope  ? "rope"
                                                                 : "alibi";
  int64_t n_sliding = 0;
  for (auto t : c.layer_types) n_sliding += t == model::LayerType::kSliding;
  std::printf("model          %s\n", dir.c_str());
  std::printf("architecture   %s (%s, %s MLP, %s positions)\n", c.is_gpt2() ? "gpt2" : "llama",
              c.is_gpt2() ? "LayerNorm" : "RMSNorm", c.is_gpt2() ? "GELU" : "SwiGLU", pos);
  std::printf("shape          vocab %ld, d_model %ld, layers %ld, heads %ld (kv %ld, head_dim %ld), d_ff %ld, "
              "context %ld\n",
              c.vocab_size, c.d_model, c.n_layer, c.n_head, c.n_kv_head, c.head_dim, c.d_ff, c.max_seq);
  std::printf("attention      %ld sliding (window %ld), %ld full; embeddings %s\n", n_sliding, c.sliding_window,
              c.n_layer - n_sliding, c.tie_embeddings ? "tied" : "untied");
  std::printf("weights        %s\n", weights_note.c_str());
  std::printf("parameters     %ld total (%s), %ld non-embedding (%s)\n", m->n_params(), human(m->n_params()).c_str(),
              m->n_params_non_embedding(), human(m->n_params_non_embedding()).c_str());
  const double train = m->train_flops_per_token(c.max_seq);
  std::printf("FLOPs/token    forward %s, training %s at context %ld (nanoGPT: 6N + 12*L*d*T, N without "
              "position embeddings; forward = 1/3)\n",
              human(train / 3).c_str(), human(train).c_str(), c.max_seq);
  if (verbose) {
    std::printf("\n%-52s %-10s %-16s %12s\n", "tensor", "kind", "shape", "numel");
    for (const model::Param& p : m->params())
      std::printf("%-52s %-10s %-16s %12ld\n", p.name.c_str(), kind_name(p.kind), p.shape.to_string().c_str(),
                  p.shape.numel());
  }
  return 0;
}

}  // namespace

Command register_model(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand("model", "Create and inspect models (config.json + model.safetensors)");
  c.app->require_subcommand(1);
  auto* init = c.app->add_subcommand(
      "init",
      "Write DIR/config.json and DIR/model.safetensors with freshly initialised weights (GPT-2/nanoGPT or LLaMA "
      "initialisation). --config takes a Hugging Face style config.json or a preset: S, M (the bench models: "
      "GPT-2 style, erf GELU, tied), gpt2-S, gpt2-M, llama-S. docs/model.md lists the fields.");
  auto config_arg = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>();
  auto seed = std::make_shared<std::optional<uint64_t>>();
  init->add_option("--config", *config_arg, "config.json path or preset name")->required();
  init->add_option("--out", *out_dir, "output directory (created)")->required();
  init->add_option("--seed", *seed, "initialisation seed (default: the global --seed)");
  auto* info = c.app->add_subcommand(
      "info", "Print a model directory's architecture, parameter counts and FLOPs per token");
  auto info_dir = std::make_shared<std::string>();
  auto verbose = std::make_shared<bool>(false);
  info->add_option("DIR", *info_dir, "model directory with config.json (model.safetensors checked if present)")
      ->required();
  info->add_flag("-v,--verbose", *verbose, "also print every tensor's name, kind and shape");
  c.run = [&g, init, info, config_arg, out_dir, seed, info_dir, verbose]() -> int {
    if (info->parsed()) return run_info(*info_dir, *verbose);
    if (!init->parsed()) return 2;
    auto cfg = model::config_from_arg(*config_arg);
    if (!cfg.ok()) return report_failure("model init", cfg.status());
    auto m = model::Transformer::create(*cfg);
    if (!m.ok()) return report_failure("model init", m.status());
    const uint64_t s = seed->value_or(g.seed);
    std::fprintf(stderr, "initialising %ld parameters (seed %lu)...\n", m->n_params(), s);
    m->init_weights(s);
    Status st = m->save(*out_dir);
    if (!st.ok()) return report_failure("model init", st);
    std::printf("wrote %s/config.json and %s/model.safetensors (%ld parameters)\n", out_dir->c_str(),
                out_dir->c_str(), m->n_params());
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
