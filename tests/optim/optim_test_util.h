// Shared helpers for the optimizer tests: deterministic parameters and gradients.
#pragma once

#include <omp.h>

#include <string>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/optim/optimizer.h"

namespace anvil::optim::test {

// A normal(0, scale) f32 tensor from `rng`.
inline Tensor randn(const Shape& shape, Rng& rng, double scale = 1.0) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.normal() * scale);
  return t;
}

// Parameters of assorted shapes (a vector-unfriendly length, a matrix, a 3-d tensor, a scalar-like
// bias), each with a zeroed gradient; groups alternate 0 / 1.
inline std::vector<ParamRef> make_params(uint64_t seed, int64_t big = 0) {
  Rng rng(seed);
  std::vector<Shape> shapes = {{37}, {8, 16}, {3, 5, 7}, {1}};
  if (big > 0) shapes.push_back({big});
  std::vector<ParamRef> params;
  for (size_t k = 0; k < shapes.size(); ++k)
    params.push_back({.name = "p" + std::to_string(k), .value = randn(shapes[k], rng), .grad = Tensor::zeros(shapes[k]),
                      .group = static_cast<int>(k % 2)});
  return params;
}

// Fills every grad with fresh normal values for step `t` (deterministic in seed and t).
inline void fill_grads(std::vector<ParamRef>& params, uint64_t seed, int t) {
  Rng rng = Rng(seed).fork(static_cast<uint64_t>(t) + 1);
  for (ParamRef& p : params) {
    if (!p.grad.defined()) continue;
    float* g = p.grad.data<float>();
    for (int64_t i = 0; i < p.grad.numel(); ++i) g[i] = static_cast<float>(rng.normal() * 0.1);
  }
}

inline std::vector<float> values(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

}  // namespace anvil::optim::test
