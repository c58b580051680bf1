// safetensors interop with an independent implementation: safetensors_interop.py (standard-library
// Python: json + struct) writes a file the way the reference library lays it out, and reads and
// checks files anvil writes. Proves anvil's bytes match the format, both directions.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/core/safetensors.h"
#include "safetensors_test_util.h"

namespace anvil {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
const std::string kScript = std::string(ANVIL_SOURCE_DIR) + "/tests/core/safetensors_interop.py";

// Runs the script; returns stdout, or nullopt when it fails.
std::optional<std::string> run_script(const std::string& mode, const std::string& path) {
  const std::string cmd = fmt::format("{} {} {} {}", kPython, kScript, mode, path);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return ::pclose(p) == 0 ? std::optional<std::string>(out) : std::nullopt;
}

// The C++ mirror of TENSORS / METADATA in safetensors_interop.py.
NamedTensors mirror_tensors() {
  std::vector<float> embed(12);
  for (int i = 0; i < 12; ++i) embed[static_cast<size_t>(i)] = static_cast<float>(i) * 0.25f - 1.0f;
  const int64_t ids[] = {1, -2, int64_t{1} << 40};
  const int32_t counts[] = {7, -7};
  const int8_t q[] = {-128, 0, 1, 127};
  Tensor t_ids = Tensor::empty({3}, DType::kI64), t_counts = Tensor::empty({2}, DType::kI32),
         t_q = Tensor::empty({4}, DType::kI8);
  std::memcpy(t_ids.raw_data(), ids, sizeof ids);
  std::memcpy(t_counts.raw_data(), counts, sizeof counts);
  std::memcpy(t_q.raw_data(), q, sizeof q);
  return {{"embed.weight", Tensor::from_vector(embed, {4, 3})},
          {"norm.weight", Tensor::from_vector({1.0f, 0.5f, -2.0f}, {3}).to(DType::kBF16)},
          {"h.0.attn", Tensor::from_vector({1.5f, -0.25f, 1024.0f, 0.0009765625f}, {2, 2}).to(DType::kF16)},
          {"ids", t_ids},
          {"counts", t_counts},
          {"q", t_q},
          {"scalar", Tensor::full({}, 3.5f)},
          {"empty", Tensor::empty({0, 2})}};
}
const std::map<std::string, std::string> kMirrorMetadata = {{"format", "pt"}, {"z", "last"}};

bool python_available() { return std::filesystem::exists(kPython) && std::filesystem::exists(kScript); }

TEST(SafetensorsInterop, ReadsPythonWrittenFileAndWritesTheSameBytes) {
  if (!python_available()) GTEST_SKIP() << kPython << " not found";
  const std::string path = test::temp_path("from_python.safetensors");
  ASSERT_TRUE(run_script("write", path).has_value());
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->metadata(), kMirrorMetadata);
  const NamedTensors mirror = mirror_tensors();
  for (const auto& [name, t] : mirror) {
    auto g = f->get(name);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(g->dtype(), t.dtype()) << name;
    EXPECT_EQ(g->shape(), t.shape()) << name;
    EXPECT_EQ(test::bytes_of(*g), test::bytes_of(t)) << name;
  }
  auto ours = serialize_safetensors(mirror, kMirrorMetadata);
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(*ours, *read_file(path)) << "anvil's writer and the spec-following Python writer disagree";
  std::filesystem::remove(path);
}

TEST(SafetensorsInterop, PythonReadsAnvilWrittenFile) {
  if (!python_available()) GTEST_SKIP() << kPython << " not found";
  const std::string path = test::temp_path("from_anvil.safetensors");
  NamedTensors ts = mirror_tensors();
  ts.emplace_back("embed.t", ts[0].second.transpose(0, 1));  // strided input, written row-major
  ASSERT_TRUE(save_safetensors(path, ts, kMirrorMetadata).ok());
  auto out = run_script("read", path);
  ASSERT_TRUE(out.has_value()) << "the Python reader rejected anvil's file";
  const nlohmann::json j = nlohmann::json::parse(*out);
  using StringMap = std::map<std::string, std::string>;
  EXPECT_EQ(j["metadata"].get<StringMap>(), kMirrorMetadata);
  ASSERT_EQ(j["tensors"].size(), ts.size());
  for (const auto& [name, t] : ts) {
    const nlohmann::json& e = j["tensors"][name];
    EXPECT_EQ(e["dtype"], dtype_name(t.dtype())) << name;
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t.shape().to_vector()) << name;
    Tensor c = t.to(DType::kF32).contiguous();
    if (t.dtype() == DType::kI64) c = t;  // compare int64 exactly, not through f32
    ASSERT_EQ(e["values"].size(), static_cast<size_t>(t.numel())) << name;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.dtype() == DType::kI64)
        EXPECT_EQ(e["values"][static_cast<size_t>(i)].get<int64_t>(), c.data<int64_t>()[i]) << name;
      else
        EXPECT_EQ(e["values"][static_cast<size_t>(i)].get<double>(), c.data<float>()[i]) << name << "[" << i << "]";
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace anvil
