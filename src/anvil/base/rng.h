// Deterministic random numbers: xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64.
// The whole state is four words, so checkpoints save and restore it exactly (resume is bit-exact).
// Streams for threads or layers come from fork(i), never from a shared generator.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace anvil {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
    has_spare_ = false;
  }

  // An independent stream derived from this one's seed material and `stream` (does not advance this).
  Rng fork(uint64_t stream) const {
    uint64_t x = s_[0] ^ (stream * 0x9E3779B97F4A7C15ull) ^ s_[3];
    Rng r(0);
    for (auto& w : r.s_) w = splitmix64(x);
    return r;
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float uniform_f32() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  double uniform_f64() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-64 * n, negligible).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
  }

  // Standard normal (Box–Muller, spare value cached).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = uniform_f64();
    const double u2 = uniform_f64();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

  State state() const { return s_; }
  void set_state(const State& s) {
    s_ = s;
    has_spare_ = false;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  State s_{};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace anvil
