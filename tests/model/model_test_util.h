// Helpers shared by the model tests: tiny random configs, random parameters (norm weights and biases
// perturbed away from 1 / 0 so their gradients are exercised), random ids/targets, and the error metric.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "anvil/base/rng.h"
#include "anvil/model/transformer.h"

namespace anvil::model::testing {

// max|a - b| / max(max|b|, tiny): the error relative to the reference tensor's scale.
inline double max_rel_error(const float* a, const float* b, int64_t n) {
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

inline Transformer make_model(const std::string& config_json, uint64_t seed) {
  auto cfg = parse_config(config_json, "test config");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = Transformer::create(cfg.value());
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  Transformer model = std::move(m.value());
  Rng rng(seed);
  for (Param& p : model.params()) {
    float* x = p.value.data<float>();
    for (int64_t i = 0; i < p.value.numel(); ++i) {
      const float z = static_cast<float>(rng.normal());
      switch (p.kind) {
        case ParamKind::kNorm: x[i] = 1.0f + 0.1f * z; break;
        case ParamKind::kBias: x[i] = 0.05f * z; break;
        default: x[i] = 0.08f * z; break;
      }
    }
  }
  return model;
}

struct Batch {
  std::vector<int32_t> ids, targets;
};

// Random ids/targets; every `ignore_every`-th target (if > 0) is set to ignore_index.
inline Batch make_batch(int64_t B, int64_t T, int64_t V, uint64_t seed, int ignore_every = 0,
                        int32_t ignore_index = -100) {
  Rng rng(seed);
  Batch b;
  for (int64_t i = 0; i < B * T; ++i) {
    b.ids.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(V))));
    b.targets.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(V))));
    if (ignore_every > 0 && i % ignore_every == 1) b.targets.back() = ignore_index;
  }
  return b;
}

}  // namespace anvil::model::testing
