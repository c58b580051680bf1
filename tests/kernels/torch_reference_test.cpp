// anvil::ops against PyTorch (Debian's /usr/bin/python3 with torch 1.13, float64 autograd): cross-entropy
// with label smoothing and ignore_index, and causal GQA attention (plus window, ALiBi and attention dropout,
// whose mask the python side recomputes from the hash independently). Data goes
// through raw files in a temp dir; tests/kernels/torch_reference.py computes. Skips without torch.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "anvil/kernels/ops.h"
#include "kernel_test_util.h"

namespace anvil::test {
namespace {

namespace fs = std::filesystem;

constexpr double kTorchRtol = 1e-4;
constexpr double kTorchAtol = 2e-5;
constexpr int kExitNoTorch = 77;

class TorchDir {
 public:
  TorchDir() {
    std::string tmpl = (fs::temp_directory_path() / "anvil_kernels_torch_XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~TorchDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  template <typename T>
  void write(const std::string& name, const std::vector<T>& v) const {
    std::ofstream f(dir_ / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  }
  void write_text(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }
  std::vector<float> read(const std::string& name, size_t n) const {
    std::vector<float> v(n);
    std::ifstream f(dir_ / (name + ".out.f32"), std::ios::binary);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
    EXPECT_TRUE(f.good()) << "missing torch output " << name;
    return v;
  }
  // Runs the python helper; returns its exit status (kExitNoTorch when torch is missing).
  int run() const {
    if (!fs::exists("/usr/bin/python3")) return kExitNoTorch;
    const std::string cmd = std::string("/usr/bin/python3 ") + ANVIL_SOURCE_DIR + "/tests/kernels/torch_reference.py " +
                            dir_.string();
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  fs::path dir_;
};

TEST(TorchReference, CrossEntropySmoothingIgnoreIndex) {
  const int64_t N = 9, V = 1000;
  constexpr int32_t kIgnore = -100;
  const float eps = 0.1f;
  const auto z = random_vec(N * V, 90, -5.0f, 5.0f);
  auto y = random_ids(N, static_cast<int32_t>(V), 91);
  y[1] = y[6] = kIgnore;
  TorchDir dir;
  dir.write("logits.f32", z);
  dir.write("targets.i32", y);
  dir.write_text("meta.json", "{\"op\": \"cross_entropy\", \"N\": " + std::to_string(N) + ", \"V\": " + std::to_string(V) +
                                  ", \"ignore_index\": -100, \"label_smoothing\": 0.1}");
  const int rc = dir.run();
  if (rc == kExitNoTorch) GTEST_SKIP() << "torch not available for /usr/bin/python3";
  ASSERT_EQ(rc, 0);
  std::vector<float> losses(N), lse(N), grad(N * V);
  const int64_t n_valid = ops::cross_entropy_forward(losses.data(), lse.data(), z.data(), y.data(), N, V, eps, kIgnore);
  ASSERT_EQ(n_valid, N - 2);
  double sum = 0.0;
  for (float l : losses) sum += l;
  const std::vector<float> mean = {static_cast<float>(sum / n_valid)};
  ops::cross_entropy_backward(grad.data(), z.data(), lse.data(), y.data(), N, V, eps, kIgnore, 1.0f / n_valid);
  expect_close("ce losses vs torch", losses, dir.read("losses", N), kTorchRtol, kTorchAtol);
  expect_close("ce mean vs torch", mean, dir.read("mean", 1), kTorchRtol, kTorchAtol);
  expect_close("ce dlogits vs torch", grad, dir.read("dlogits", N * V), kTorchRtol, 1e-7);
}

// A float as JSON that parses back to the same float32 (the python side rebuilds the threshold from it).
std::string fmt_float(float x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x));
  return buf;
}

void attention_vs_torch(int64_t B, int64_t T, int64_t H, int64_t Hkv, int64_t D, int64_t window, bool alibi,
                        float dropout_p = 0.0f) {
  constexpr uint64_t kSeed = 0xD1CE5EED00C0FFEEull;  // above 2^63: the uint64 path on both sides
  const int64_t N = B * T;
  const auto q = random_vec(N * H * D, 92, -2.0f, 2.0f), k = random_vec(N * Hkv * D, 93, -2.0f, 2.0f);
  const auto v = random_vec(N * Hkv * D, 94), dout = random_vec(N * H * D, 95);
  std::vector<float> slopes(H);
  ops::alibi_slopes(slopes.data(), H);
  TorchDir dir;
  dir.write("q.f32", q), dir.write("k.f32", k), dir.write("v.f32", v), dir.write("dout.f32", dout);
  dir.write("slopes.f32", slopes);
  dir.write_text("meta.json", "{\"op\": \"attention\", \"B\": " + std::to_string(B) + ", \"T\": " + std::to_string(T) +
                                  ", \"H\": " + std::to_string(H) + ", \"Hkv\": " + std::to_string(Hkv) + ", \"D\": " +
                                  std::to_string(D) + ", \"window\": " + std::to_string(window) +
                                  ", \"alibi\": " + (alibi ? "true" : "false") + ", \"dropout_p\": " +
                                  fmt_float(dropout_p) + ", \"dropout_seed\": " + std::to_string(kSeed) + "}");
  const int rc = dir.run();
  if (rc == kExitNoTorch) GTEST_SKIP() << "torch not available for /usr/bin/python3";
  ASSERT_EQ(rc, 0);
  const AttentionDims dims{.B = B, .T = T, .H = H, .Hkv = Hkv, .D = D, .window = window,
                           .alibi_slopes = alibi ? slopes.data() : nullptr, .dropout_p = dropout_p,
                           .dropout_seed = kSeed};
  std::vector<float> out(N * H * D), lse(B * H * T), dq(q.size()), dk(k.size()), dv(v.size());
  ops::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims);
  ops::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse.data(), q.data(), k.data(),
                          v.data(), dims);
  expect_close("attention out vs torch", out, dir.read("out", out.size()), kTorchRtol, kTorchAtol);
  expect_close("attention lse vs torch", lse, dir.read("lse", lse.size()), kTorchRtol, kTorchAtol);
  expect_close("attention dq vs torch", dq, dir.read("dq", dq.size()), kTorchRtol, kTorchAtol);
  expect_close("attention dk vs torch", dk, dir.read("dk", dk.size()), kTorchRtol, kTorchAtol);
  expect_close("attention dv vs torch", dv, dir.read("dv", dv.size()), kTorchRtol, kTorchAtol);
}

TEST(TorchReference, CausalAttentionGqa) { attention_vs_torch(2, 70, 4, 2, 32, 0, false); }
TEST(TorchReference, AttentionGqaWindowAlibi) { attention_vs_torch(1, 90, 6, 2, 16, 17, true); }
TEST(TorchReference, AttentionDropoutGqa) { attention_vs_torch(2, 70, 4, 2, 32, 0, false, 0.3f); }
TEST(TorchReference, AttentionDropoutWindowAlibi) { attention_vs_torch(1, 90, 6, 2, 16, 17, true, 0.1f); }

}  // namespace
}  // namespace anvil::test
