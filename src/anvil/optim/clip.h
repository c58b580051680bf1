// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (norm_type 2, spec §2.3):
//   norm = ‖(‖g_1‖, …, ‖g_n‖)‖;  coef = min(1, max_norm/(norm + 1e-6));  g_i ← g_i·coef (always)
// Returns the norm before clipping. Undefined grads are skipped; none at all gives 0. A non-finite
// norm propagates into the gradients, as in torch with error_if_nonfinite=False — callers check
// std::isfinite on the result. The sum of squares is accumulated in double over fixed-size blocks
// in a fixed order, so the result does not depend on the thread count.
#pragma once

#include <vector>

#include "anvil/core/tensor.h"
#include "anvil/optim/optimizer.h"

namespace anvil::optim {

inline constexpr float kClipNormEps = 1e-6f;  // torch's `total_norm + 1e-6`

// Σ g² over f32 tensors (contiguous), in double: the piece a sharded run all-reduces before the sqrt.
double grad_sq_sum(const std::vector<Tensor>& grads);
float grad_norm(const std::vector<Tensor>& grads);
// Scales every grad by min(1, max_norm/(norm + 1e-6)) computed from `norm` in f32 as torch does.
void scale_grads_for_norm(const std::vector<Tensor>& grads, float norm, double max_norm);
float clip_grad_norm(const std::vector<Tensor>& grads, double max_norm);
float clip_grad_norm(const std::vector<ParamRef>& params, double max_norm);

}  // namespace anvil::optim
