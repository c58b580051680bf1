// KvCache allocation (see kv_cache.h). Memory is left uninitialised: the OS commits pages on first write,
// so a large max_seq costs only what the sequences actually use.
#include "anvil/infer/kv_cache.h"

#include <cstring>
#include <new>

namespace anvil::infer {

Result<KvCache> KvCache::create(const model::ModelConfig& config, int64_t n_slots, int64_t max_seq, DType dtype) {
  if (n_slots <= 0 || max_seq <= 0)
    return invalid_argument("[infer.kv_cache] n_slots {} and max_seq {} must be > 0", n_slots, max_seq);
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kI8)
    return invalid_argument("[infer.kv_cache] cache type {}, expected F32, F16 or I8", dtype_name(dtype));
  KvCache c;
  c.n_slots_ = n_slots, c.max_seq_ = max_seq, c.n_layer_ = config.n_layer, c.dtype_ = dtype;
  c.n_kv_head_ = config.n_kv_head, c.head_dim_ = config.head_dim;
  const size_t n_bytes = static_cast<size_t>(c.n_values_per_slot() * n_slots) * c.elem_size();
  c.k_.reset(new (std::nothrow) std::byte[n_bytes]);
  c.v_.reset(new (std::nothrow) std::byte[n_bytes]);
  if (!c.k_ || !c.v_)
    return out_of_range("[infer.kv_cache] cannot allocate 2 x {} MiB for {} slots x {} positions ({})", n_bytes >> 20,
                        n_slots, max_seq, dtype_name(dtype));
  if (dtype == DType::kI8) c.scales_.resize(2 * static_cast<size_t>(c.n_rows_per_slot() * n_slots));
  c.length_.assign(static_cast<size_t>(n_slots), 0);
  return c;
}

void KvCache::copy_prefix(int64_t from, int64_t to, int64_t n) {
  ANVIL_CHECK(from >= 0 && from < n_slots_ && to >= 0 && to < n_slots_ && from != to,
              "KvCache::copy_prefix: slots {} -> {} of {}", from, to, n_slots_);
  ANVIL_CHECK(n >= 0 && n <= length(from), "KvCache::copy_prefix: {} positions, slot {} holds {}", n, from,
              length(from));
  const size_t row = static_cast<size_t>(head_dim_) * elem_size();
  for (std::byte* base : {k_.get(), v_.get()}) {
    for (int64_t l = 0; l < n_layer_; ++l) {
      for (int64_t h = 0; h < n_kv_head_; ++h) {
        const int64_t at = l * max_seq_ * kv_dim() + h * head_stride();  // values into a slot
        std::memcpy(base + (to * n_values_per_slot() + at) * elem_size(),
                    base + (from * n_values_per_slot() + at) * elem_size(), static_cast<size_t>(n) * row);
      }
    }
  }
  if (dtype_ == DType::kI8) {
    for (int which : {0, 1})
      for (int64_t l = 0; l < n_layer_; ++l)
        for (int64_t h = 0; h < n_kv_head_; ++h)
          std::memcpy(scale(which, l, to) + h * max_seq_, scale(which, l, from) + h * max_seq_,
                      static_cast<size_t>(n) * sizeof(float));
  }
  set_length(to, n);
}

}  // namespace anvil::infer
