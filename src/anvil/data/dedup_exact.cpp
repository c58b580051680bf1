// Exact dedup: xxh3-128 keys in an open-addressing, linear-probing set (dedup.h).
#include <xxhash.h>

#include "anvil/data/dedup.h"

namespace anvil::data {

Hash128 hash128(std::string_view text) {
  const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return {h.low64, h.high64};
}

void ExactDedup::grow() {
  const size_t cap = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<Hash128> old_slots(cap);
  std::vector<uint8_t> old_used(cap, 0);
  old_slots.swap(slots_);
  old_used.swap(used_);
  const size_t mask = cap - 1;
  for (size_t i = 0; i < old_slots.size(); ++i) {
    if (!old_used[i]) continue;
    size_t j = old_slots[i].lo & mask;
    while (used_[j]) j = (j + 1) & mask;
    slots_[j] = old_slots[i];
    used_[j] = 1;
  }
}

bool ExactDedup::insert(const Hash128& h) {
  if ((n_ + 1) * 2 > slots_.size()) grow();
  const size_t mask = slots_.size() - 1;
  size_t j = h.lo & mask;
  while (used_[j]) {
    if (slots_[j] == h) return false;
    j = (j + 1) & mask;
  }
  slots_[j] = h;
  used_[j] = 1;
  ++n_;
  return true;
}

}  // namespace anvil::data
