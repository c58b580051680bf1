// KvCache: the keys and values of every layer for a fixed number of sequence slots, preallocated once.
// Layout per slot: [layer][position][kv head][head dim] fp32 for K and for V, so one sequence's cache is
// contiguous and position p of layer l starts at k(l, slot) + p * kv_dim. length(slot) is the number of
// positions holding valid entries (0 .. length-1); the engine advances it, clear() forgets a sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/model/config.h"

namespace anvil::infer {

class KvCache {
 public:
  // n_slots sequences of up to max_seq positions each, for the layers and kv heads of `config`.
  static Result<KvCache> create(const model::ModelConfig& config, int64_t n_slots, int64_t max_seq);

  int64_t n_slots() const { return n_slots_; }
  int64_t max_seq() const { return max_seq_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }  // n_kv_head * head_dim: the row width
  size_t bytes() const { return 2 * static_cast<size_t>(n_floats_per_slot() * n_slots_) * sizeof(float); }

  // (max_seq, kv_dim) rows of layer `layer` of slot `slot`.
  float* k(int64_t layer, int64_t slot) { return k_.get() + offset(layer, slot); }
  float* v(int64_t layer, int64_t slot) { return v_.get() + offset(layer, slot); }
  const float* k(int64_t layer, int64_t slot) const { return k_.get() + offset(layer, slot); }
  const float* v(int64_t layer, int64_t slot) const { return v_.get() + offset(layer, slot); }

  int64_t length(int64_t slot) const { return length_[static_cast<size_t>(slot)]; }
  void set_length(int64_t slot, int64_t n) { length_[static_cast<size_t>(slot)] = n; }
  void clear(int64_t slot) { set_length(slot, 0); }

 private:
  int64_t n_floats_per_slot() const { return n_layer_ * max_seq_ * kv_dim_; }
  int64_t offset(int64_t layer, int64_t slot) const { return slot * n_floats_per_slot() + layer * max_seq_ * kv_dim_; }

  int64_t n_slots_ = 0, max_seq_ = 0, n_layer_ = 0, kv_dim_ = 0;
  std::unique_ptr<float[]> k_, v_;  // uninitialised: only positions < length are ever read
  std::vector<int64_t> length_;
};

}  // namespace anvil::infer
