// Randomized mutation fuzzing of the safetensors reader (deterministic seed): bytes of valid files
// are flipped, overwritten, inserted and deleted, mostly inside the 8-byte length and the JSON
// header. Every mutant must either parse — and then every tensor it hands out lies inside the
// buffer and reads cleanly — or fail with a "[safetensors.load]" error. Run under ASan to catch
// out-of-bounds reads (see docs/formats/safetensors.md).
#include <gtest/gtest.h>

#include <vector>

#include "anvil/base/rng.h"
#include "anvil/core/safetensors.h"
#include "safetensors_test_util.h"

namespace anvil {
namespace {

constexpr int kFuzzIterations = 4000;
constexpr uint64_t kFuzzSeed = 20261128;

std::vector<std::string> seed_files() {
  std::vector<std::string> out;
  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  out.push_back(*serialize_safetensors({{"w", w}}));
  out.push_back(*serialize_safetensors({{"a.weight", w.to(DType::kBF16)},
                                        {"a.bias", Tensor::full({3}, 0.5f)},
                                        {"ids", w.to(DType::kI64)},
                                        {"q", w.to(DType::kI8)},
                                        {"s", Tensor::full({}, 2.0f)},
                                        {"none", Tensor::empty({0, 3}, DType::kF16)}},
                                       {{"format", "pt"}, {"step", "12"}}));
  out.push_back(*serialize_safetensors({}, {{"only", "metadata"}}));
  return out;
}

std::string mutate(const std::string& in, Rng& rng) {
  std::string s = in;
  uint64_t n = 0;
  std::memcpy(&n, s.data(), 8);
  const int n_edits = 1 + static_cast<int>(rng.below(4));
  for (int k = 0; k < n_edits && !s.empty(); ++k) {
    // 85% of edits land in the length field or the header, where validation lives.
    const size_t span = rng.below(100) < 85 ? std::min<size_t>(s.size(), 8 + n) : s.size();
    const size_t pos = rng.below(span);
    switch (rng.below(6)) {
      case 0: s[pos] = static_cast<char>(s[pos] ^ (1u << rng.below(8))); break;
      case 1: s[pos] = static_cast<char>(rng.below(256)); break;
      case 2: s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<char>(rng.below(256))); break;
      case 3: s.erase(s.begin() + static_cast<std::ptrdiff_t>(pos)); break;
      case 4: {  // a digit in the header becomes another digit (shapes, offsets, the length)
        const char digits[] = "0123456789";
        if (s[pos] >= '0' && s[pos] <= '9') s[pos] = digits[rng.below(10)];
        break;
      }
      default: {  // the length field: off by a little, or anything
        const uint64_t len = rng.below(2) ? n + rng.below(17) - 8 : rng.next_u64() >> rng.below(64);
        if (s.size() >= 8) std::memcpy(s.data(), &len, 8);
      }
    }
  }
  return s;
}

TEST(SafetensorsFuzz, MutantsParseCleanlyOrFailWithAClearError) {
  const std::vector<std::string> seeds = seed_files();
  Rng rng(kFuzzSeed);
  int n_ok = 0, n_err = 0;
  uint64_t checksum = 0;
  for (int it = 0; it < kFuzzIterations; ++it) {
    const std::string mutant = mutate(seeds[rng.below(seeds.size())], rng);
    // An exactly-sized heap copy, so a read past the end is a read past the allocation.
    std::vector<uint8_t> buf(mutant.begin(), mutant.end());
    auto f = SafetensorsFile::parse(std::span<const uint8_t>(buf.data(), buf.size()), "fuzz.st");
    if (!f.ok()) {
      ++n_err;
      ASSERT_EQ(f.status().message().rfind("[safetensors.load] 'fuzz.st': ", 0), 0u) << f.status().message();
      continue;
    }
    ++n_ok;
    for (const SafetensorsEntry& e : f->entries()) {
      ASSERT_LE(e.end, buf.size() - 8 - f->header_bytes());
      auto t = f->get(e.name);
      if (!t.ok()) {
        ASSERT_EQ(t.status().message().rfind("[safetensors.get] 'fuzz.st': ", 0), 0u) << t.status().message();
        continue;
      }
      const uint8_t* p = static_cast<const uint8_t*>(t->raw_data());
      for (size_t i = 0; i < t->nbytes(); ++i) checksum += p[i];
    }
  }
  EXPECT_GT(n_err, kFuzzIterations / 2);  // most mutants are invalid ...
  EXPECT_GT(n_ok, 10);                    // ... but some survive (e.g. edits inside string values)
  RecordProperty("n_ok", n_ok);
  RecordProperty("checksum", std::to_string(checksum));
}

}  // namespace
}  // namespace anvil
