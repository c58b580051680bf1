// clip_grad_norm_ (see clip.h). torch computes coef as `max_norm / (total_norm + 1e-6)`, a
// Python float divided by a tensor, which torch evaluates as reciprocal() * max_norm in f32;
// anvil does the same so the scaled gradients match bit for bit given the same norm.
#include "anvil/optim/clip.h"

#include <algorithm>
#include <cmath>

namespace anvil::optim {

namespace {
constexpr int64_t kBlock = 1 << 14;  // fixed reduction blocks: same sum for any thread count
}

double grad_sq_sum(const std::vector<Tensor>& grads) {
  double total = 0.0;
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    ANVIL_CHECK(g.dtype() == DType::kF32 && g.is_contiguous(), "grad_sq_sum needs contiguous f32, got {}",
                g.describe());
    const float* p = g.data<float>();
    const int64_t n = g.numel();
    const int64_t n_blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(static_cast<size_t>(n_blocks), 0.0);
#pragma omp parallel for schedule(static) if (n_blocks > 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = lo; i < hi; ++i) s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
      partial[static_cast<size_t>(b)] = s;
    }
    for (double s : partial) total += s;
  }
  return total;
}

float grad_norm(const std::vector<Tensor>& grads) { return static_cast<float>(std::sqrt(grad_sq_sum(grads))); }

void scale_grads_for_norm(const std::vector<Tensor>& grads, float norm, double max_norm) {
  const float reciprocal = 1.0f / (norm + kClipNormEps);
  const float c = std::min(reciprocal * static_cast<float>(max_norm), 1.0f);  // min(NaN, 1) is NaN, as clamp
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    float* p = g.data<float>();
    const int64_t n = g.numel();
#pragma omp parallel for simd schedule(static) if (n >= kBlock)
    for (int64_t i = 0; i < n; ++i) p[i] *= c;
  }
}

float clip_grad_norm(const std::vector<Tensor>& grads, double max_norm) {
  const float norm = grad_norm(grads);
  scale_grads_for_norm(grads, norm, max_norm);
  return norm;
}

float clip_grad_norm(const std::vector<ParamRef>& params, double max_norm) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const ParamRef& p : params) grads.push_back(p.grad);
  return clip_grad_norm(grads, max_norm);
}

}  // namespace anvil::optim
