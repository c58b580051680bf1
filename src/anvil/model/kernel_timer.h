// KernelTimer: per-category wall-time accumulator for the training step (gemm, attention, norm,
// cross-entropy, other). Off unless enabled; when off a ScopedKernelTime costs one branch.
// Used by `anvil bench train-step` for its per-kernel breakdown.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace anvil::model {

enum class KernelKind : uint8_t { kGemm, kAttention, kNorm, kCrossEntropy, kOther, kCount };

inline const char* kernel_kind_name(KernelKind k) {
  constexpr const char* kNames[] = {"gemm", "attention", "norm", "cross_entropy", "other"};
  return kNames[static_cast<size_t>(k)];
}

struct KernelTimer {
  bool enabled = false;
  std::array<double, static_cast<size_t>(KernelKind::kCount)> seconds{};
  // Time Transformer::forward spends on the LM head's backward (dW, dx), which it fuses with the
  // forward chunk by chunk; benches move it from the forward to the backward column.
  double head_backward_seconds = 0.0;
  void reset() {
    seconds.fill(0.0);
    head_backward_seconds = 0.0;
  }
};

class ScopedKernelTime {
 public:
  ScopedKernelTime(KernelTimer& t, KernelKind k) : t_(t.enabled ? &t : nullptr), k_(k) {
    if (t_) start_ = std::chrono::steady_clock::now();
  }
  ~ScopedKernelTime() {
    if (t_)
      t_->seconds[static_cast<size_t>(k_)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  ScopedKernelTime(const ScopedKernelTime&) = delete;
  ScopedKernelTime& operator=(const ScopedKernelTime&) = delete;

 private:
  KernelTimer* t_;
  KernelKind k_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace anvil::model
