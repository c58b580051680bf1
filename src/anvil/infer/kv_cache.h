// KvCache: the keys and values of every layer for a fixed number of sequence slots, preallocated once,
// stored as fp32, f16 (half the bytes every decode step reads, as llama.cpp's default cache does;
// attention widens them back to fp32) or int8 with one fp32 scale per (position, kv head) row (a quarter
// of fp32, plus 4 bytes per row; ops::quantize_row_i8; the scales of layer l of a slot are laid out
// [kv head][position]: k_scale(l, slot) + hk * max_seq() + p). Layout per slot: [layer][kv head][position]
// [head dim] for K and for V, so one sequence's cache is contiguous and each head's keys are one forward
// stream for attention (attention of 8 LLaMA-15M rows at context 300-500 took 12% less time than with the
// heads of a position side by side; 1.5x less in a cold-cache microbenchmark of the kernel alone): kv head
// hk of position p of layer l is at k<T>(l, slot) + hk * head_stride() + p * head_dim().
// length(slot) is the number of positions holding valid entries (0 .. length-1); the engine advances
// it, clear() forgets a sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "anvil/base/check.h"
#include "anvil/base/status.h"
#include "anvil/core/dtype.h"
#include "anvil/model/config.h"

namespace anvil::infer {

class KvCache {
 public:
  // n_slots sequences of up to max_seq positions each, for the layers and kv heads of `config`, stored
  // as `dtype` (kF32, kF16 or kI8).
  static Result<KvCache> create(const model::ModelConfig& config, int64_t n_slots, int64_t max_seq,
                                DType dtype = DType::kF16);

  int64_t n_slots() const { return n_slots_; }
  int64_t max_seq() const { return max_seq_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return n_kv_head_ * head_dim_; }  // the values one position holds per layer
  int64_t head_dim() const { return head_dim_; }               // the row stride within a kv head
  int64_t head_stride() const { return max_seq_ * head_dim_; }  // between a layer's kv heads
  DType dtype() const { return dtype_; }
  size_t bytes() const {
    return 2 * static_cast<size_t>(n_values_per_slot() * n_slots_) * elem_size() + scales_.size() * sizeof(float);
  }

  // The (n_kv_head, max_seq, head_dim) values of layer `layer` of slot `slot`; T must be the cache's type.
  template <typename T>
  T* k(int64_t layer, int64_t slot) {
    return typed<T>(k_.get(), layer, slot);
  }
  template <typename T>
  T* v(int64_t layer, int64_t slot) {
    return typed<T>(v_.get(), layer, slot);
  }

  // int8 caches: the (n_kv_head, max_seq) row scales of layer `layer` of slot `slot`.
  float* k_scale(int64_t layer, int64_t slot) { return scale(0, layer, slot); }
  float* v_scale(int64_t layer, int64_t slot) { return scale(1, layer, slot); }

  int64_t length(int64_t slot) const { return length_[static_cast<size_t>(slot)]; }
  void set_length(int64_t slot, int64_t n) { length_[static_cast<size_t>(slot)] = n; }
  void clear(int64_t slot) { set_length(slot, 0); }
  // Positions [0, n) of slot `from` (all layers, K and V, int8 scales too) copied into slot `to`, whose
  // length becomes n: a sequence starts from another's prefix without recomputing it (the engine gives a
  // position the same K/V bits however it was batched, so the copy is what a prefill would write).
  void copy_prefix(int64_t from, int64_t to, int64_t n);

 private:
  size_t elem_size() const { return dtype_size(dtype_); }
  int64_t n_rows_per_slot() const { return n_layer_ * n_kv_head_ * max_seq_; }
  float* scale(int which, int64_t layer, int64_t slot) {
    ANVIL_CHECK(dtype_ == DType::kI8, "KvCache: row scales of a {} cache", dtype_name(dtype_));
    const int64_t per_kv = n_rows_per_slot() * n_slots_;
    return scales_.data() + which * per_kv + slot * n_rows_per_slot() + layer * n_kv_head_ * max_seq_;
  }
  int64_t n_values_per_slot() const { return n_layer_ * max_seq_ * kv_dim(); }
  template <typename T>
  T* typed(std::byte* base, int64_t layer, int64_t slot) const {
    ANVIL_CHECK(dtype_of<T>() == dtype_, "KvCache: read as {} but stored as {}", dtype_name(dtype_of<T>()),
                dtype_name(dtype_));
    return reinterpret_cast<T*>(base) + slot * n_values_per_slot() + layer * max_seq_ * kv_dim();
  }

  int64_t n_slots_ = 0, max_seq_ = 0, n_layer_ = 0, n_kv_head_ = 0, head_dim_ = 0;
  DType dtype_ = DType::kF16;
  std::unique_ptr<std::byte[]> k_, v_;  // uninitialised: only positions < length are ever read
  std::vector<float> scales_;           // int8: K's row scales, then V's
  std::vector<int64_t> length_;
};

}  // namespace anvil::infer
