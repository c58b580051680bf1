// Which parameters get weight decay. anvil's rule is nanoGPT's (model.py configure_optimizers):
// decay exactly the tensors with rank >= 2 (matmul weights, embeddings); never biases or norm gains
// (rank 1) or scalars. Option: exclude embeddings too — a rank >= 2 parameter whose name contains
// one of `embedding_markers` ("embed", "wte", "wpe" by default: HF GPT-2 and LLaMA names) then
// gets no decay. Group 0 is "decay" (weight_decay), group 1 "no_decay" (0).
#pragma once

#include <string>
#include <vector>

#include "anvil/optim/optimizer.h"

namespace anvil::optim {

enum class EmbeddingDecay { kDecay, kNoDecay };

struct DecayOptions {
  double weight_decay = kAdamWDefaultWeightDecay;
  EmbeddingDecay embeddings = EmbeddingDecay::kDecay;  // nanoGPT decays them
  std::vector<std::string> embedding_markers = {"embed", "wte", "wpe"};
};

inline constexpr int kDecayGroup = 0;
inline constexpr int kNoDecayGroup = 1;

bool is_decayed(const ParamRef& param, const DecayOptions& options);
// Sets each param's group (kDecayGroup / kNoDecayGroup) and returns the two groups.
std::vector<ParamGroup> assign_decay_groups(std::vector<ParamRef>& params, const DecayOptions& options);

}  // namespace anvil::optim
