// Open-addressing hash tables for the tokenizer's hot paths: PairMap (uint64 key -> uint32 value,
// merge lookup and trainer pair index) and WordCounter (byte string -> uint64 count, keys in an
// arena). Linear probing, power-of-two capacity, load <= 1/2, no erase (WordCounter rebuilds on prune).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::tok {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Hash of a short byte string: 8-byte words folded with a multiply (not for adversarial keys).
inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0x100000001B3ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x9FB21C651E98DF25ULL;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  std::memcpy(&w, p + i, n - i);
  h = (h ^ w) * 0x9FB21C651E98DF25ULL;
  return mix64(h);
}

inline uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }

class PairMap {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  explicit PairMap(size_t expected = 16) { rehash(expected * 2); }

  size_t size() const { return size_; }
  // Pointer to the value of key, or nullptr.
  const uint32_t* find(uint64_t key) const {
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  // Inserts (key, value) if absent; returns the stored value's reference and whether it was new.
  uint32_t& insert(uint64_t key, uint32_t value, bool* inserted = nullptr) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) { if (inserted) *inserted = false; return vals_[i]; }
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        vals_[i] = value;
        ++size_;
        if (inserted) *inserted = true;
        return vals_[i];
      }
    }
  }

 private:
  void rehash(size_t cap) {
    size_t c = 16;
    while (c < cap) c *= 2;
    std::vector<uint64_t> old_keys(c, kEmpty);
    std::vector<uint32_t> old_vals(c);
    old_keys.swap(keys_);
    old_vals.swap(vals_);
    mask_ = c - 1;
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i)
      if (old_keys[i] != kEmpty) insert(old_keys[i], old_vals[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  size_t mask_ = 0, size_ = 0;
};

// Counts byte strings. Keys live in one arena; entries hold (hash, offset, length, count).
class WordCounter {
 public:
  struct Entry {
    uint64_t hash;
    uint64_t offset;  // into the arena
    uint32_t len;
    uint64_t count;   // 0 = empty slot
  };
  WordCounter() { slots_.assign(1 << 12, Entry{0, 0, 0, 0}); }

  size_t size() const { return size_; }
  size_t arena_bytes() const { return arena_.size(); }

  void add(std::string_view w, uint64_t count = 1) {
    uint64_t h = hash_bytes(w.data(), w.size());
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Entry& e = slots_[i];
      if (e.count == 0) {
        e = Entry{h, arena_.size(), static_cast<uint32_t>(w.size()), count};
        arena_.append(w);
        ++size_;
        return;
      }
      if (e.hash == h && e.len == w.size() && std::memcmp(arena_.data() + e.offset, w.data(), w.size()) == 0) {
        e.count += count;
        return;
      }
    }
  }
  // Calls f(word, count) for every entry.
  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_)
      if (e.count) f(std::string_view(arena_.data() + e.offset, e.len), e.count);
  }
  void merge_from(const WordCounter& other) {
    other.for_each([&](std::string_view w, uint64_t c) { add(w, c); });
  }
  // Drops every word counted <= threshold (rebuilds the table and the arena).
  void prune(uint64_t threshold) {
    WordCounter kept;
    for_each([&](std::string_view w, uint64_t c) { if (c > threshold) kept.add(w, c); });
    *this = std::move(kept);
  }
  void clear() { *this = WordCounter(); }

 private:
  void grow() {
    std::vector<Entry> old(slots_.size() * 2, Entry{0, 0, 0, 0});
    old.swap(slots_);
    size_t mask = slots_.size() - 1;
    for (const Entry& e : old) {
      if (!e.count) continue;
      size_t i = e.hash & mask;
      while (slots_[i].count) i = (i + 1) & mask;
      slots_[i] = e;
    }
  }
  std::vector<Entry> slots_;
  std::string arena_;
  size_t size_ = 0;
};

}  // namespace anvil::tok
