// Parity with PyTorch (label `reference`): torch.optim.AdamW and google/automl's Lion (run by
// torch_reference.py with /usr/bin/python3) on the same parameters, gradients, groups and
// per-step lrs, compared after every step; clip_grad_norm_ against torch; the lr schedules against
// transformers' formulas evaluated in Python. The torch parts skip when torch cannot be imported.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "anvil/optim/clip.h"
#include "anvil/optim/optimizer.h"
#include "anvil/optim/schedule.h"
#include "optim_test_util.h"
#include "support/temp_dir.h"

namespace anvil::optim {
namespace {

constexpr double kParityRelTol = 1e-6;     // per element, relative to the torch value
constexpr double kParityAbsFloor = 1e-12;  // for values at or near 0
constexpr double kScheduleRelTol = 1e-15;
// Parameters are O(1) and updates O(lr), so kParityRelTol alone would miss a formula-order slip of
// 1e-4 in the update; anvil reproduces torch's roundings, so nearly every value must be bit-equal.
constexpr double kMinBitExactFraction = 0.99;
constexpr int kSteps = 8;
constexpr int kNoGradParam = 2, kNoGradStep = 3;  // p2 has grad None at step 3
constexpr uint64_t kSeed = 424242;

const std::string kScript = std::string(ANVIL_SOURCE_DIR) + "/tests/optim/torch_reference.py";

constexpr int kNoTorchExit = 77;  // torch_reference.py's exit code when torch cannot be imported

struct PythonRun {
  int exit_code = -1;
  std::string output;
};

PythonRun run_python(const std::string& args) {
  PythonRun r;
  if (!std::filesystem::exists("/usr/bin/python3")) return r;
  FILE* p = ::popen(fmt::format("/usr/bin/python3 {} {} 2>&1", kScript, args).c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs a torch mode; skips the test when torch is missing, fails it when the script fails.
#define RUN_TORCH_OR_SKIP(args)                                                                  \
  do {                                                                                           \
    const PythonRun run_ = run_python(args);                                                     \
    if (run_.exit_code == kNoTorchExit) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";  \
    ASSERT_EQ(run_.exit_code, 0) << "torch_reference.py " << (args) << ":\n" << run_.output;    \
  } while (0)

std::string temp_dir() {
  return anvil::test::temp_root().string();
}

struct Case {
  std::vector<ParamRef> params;
  std::vector<ParamGroup> groups;
  std::vector<std::vector<Tensor>> grads;  // [step][param]; undefined = None
  std::vector<double> lrs;
};

Case make_case(double wd0, double wd1) {
  Case c;
  c.params = test::make_params(kSeed);
  c.groups = {{.name = "decay", .weight_decay = wd0}, {.name = "other", .weight_decay = wd1, .lr_scale = 0.5}};
  const LrSchedule schedule =
      *LrSchedule::create({.kind = ScheduleKind::kCosine, .peak_lr = 1e-2, .total_steps = kSteps, .warmup_steps = 2});
  for (int t = 0; t < kSteps; ++t) {
    test::fill_grads(c.params, kSeed, t);
    std::vector<Tensor> g;
    for (size_t k = 0; k < c.params.size(); ++k)
      g.push_back(static_cast<int>(k) == kNoGradParam && t == kNoGradStep ? Tensor() : c.params[k].grad.clone());
    c.grads.push_back(g);
    c.lrs.push_back(schedule.lr(t));
  }
  return c;
}

std::string write_inputs(const Case& c, const std::string& path, const std::map<std::string, std::string>& extra) {
  NamedTensors ts;
  std::vector<std::string> groups, lrs;
  for (size_t k = 0; k < c.params.size(); ++k) {
    ts.emplace_back(fmt::format("p.{}", k), c.params[k].value);
    groups.push_back(std::to_string(c.params[k].group));
    for (int t = 0; t < kSteps; ++t)
      if (c.grads[static_cast<size_t>(t)][k].defined()) ts.emplace_back(fmt::format("g.{}.{}", k, t), c.grads[static_cast<size_t>(t)][k]);
  }
  for (double lr : c.lrs) lrs.push_back(fmt::format("{:.17g}", lr));
  std::map<std::string, std::string> meta = extra;
  meta["groups"] = fmt::format("{}", fmt::join(groups, ","));
  meta["lrs"] = fmt::format("{}", fmt::join(lrs, ","));
  for (size_t j = 0; j < c.groups.size(); ++j) {
    meta[fmt::format("wd.{}", j)] = fmt::format("{:.17g}", c.groups[j].weight_decay);
    meta[fmt::format("lr_scale.{}", j)] = fmt::format("{:.17g}", c.groups[j].lr_scale);
  }
  EXPECT_TRUE(save_safetensors(path, ts, meta).ok());
  return path;
}

struct Agreement {
  double max_rel = 0.0;
  int64_t n_elements = 0, n_bit_exact = 0;
};

void compare(const Tensor& ours, const Tensor& theirs, const std::string& what, Agreement& a) {
  ASSERT_EQ(ours.shape().to_vector(), theirs.shape().to_vector()) << what;
  for (int64_t i = 0; i < ours.numel(); ++i) {
    const double x = ours.data<float>()[i], y = theirs.data<float>()[i];
    const double rel = std::fabs(x - y) / std::max(std::fabs(y), kParityAbsFloor);
    a.max_rel = std::max(a.max_rel, rel);
    a.n_bit_exact += x == y;
    if (x != y && std::getenv("ANVIL_SHOW_DIFFS")) std::printf("  %s[%lld]: %.9g vs %.9g\n", what.c_str(), static_cast<long long>(i), x, y);
    ++a.n_elements;
    ASSERT_LE(std::fabs(x - y), kParityRelTol * std::max(std::fabs(y), kParityAbsFloor))
        << what << "[" << i << "]: anvil " << x << " torch " << y;
  }
}

template <typename Opt, typename Options>
void check_against_torch(const char* mode, double wd0, double wd1, const Options& options,
                         const std::map<std::string, std::string>& hyper) {
  Case c = make_case(wd0, wd1);
  const std::string dir = temp_dir();
  const std::string in = write_inputs(c, dir + "/" + mode + "_in.safetensors", hyper);
  const std::string out = dir + "/" + mode + "_out.safetensors";
  RUN_TORCH_OR_SKIP(fmt::format("{} {} {}", mode, in, out));
  auto ref = SafetensorsFile::open(out);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();

  auto opt = Opt::create(c.params, c.groups, options);
  ASSERT_TRUE(opt.ok()) << opt.status().to_string();
  Agreement a;
  for (int t = 0; t < kSteps; ++t) {
    for (size_t k = 0; k < c.params.size(); ++k) (*opt)->params()[k].grad = c.grads[static_cast<size_t>(t)][k];
    (*opt)->step(c.lrs[static_cast<size_t>(t)]);
    for (size_t k = 0; k < c.params.size(); ++k)
      compare((*opt)->params()[k].value, *ref->get(fmt::format("p.{}.{}", k, t)), fmt::format("{} step {} p{}", mode, t, k), a);
  }
  std::printf("[ %s vs torch ] %lld elements x steps, %lld bit-identical, max relative difference %.3g\n", mode,
              static_cast<long long>(a.n_elements), static_cast<long long>(a.n_bit_exact), a.max_rel);
  EXPECT_GE(static_cast<double>(a.n_bit_exact), kMinBitExactFraction * static_cast<double>(a.n_elements));
}

TEST(OptimReference, AdamWMatchesTorchEveryStep) {
  check_against_torch<AdamW>("adamw", 0.1, 0.0, AdamWOptions{.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8},
                             {{"beta1", "0.9"}, {"beta2", "0.95"}, {"eps", "1e-08"}});
}

TEST(OptimReference, AdamWDefaultsMatchTorchEveryStep) {
  check_against_torch<AdamW>("adamw", kAdamWDefaultWeightDecay, 0.0, AdamWOptions{},
                             {{"beta1", "0.9"}, {"beta2", "0.999"}, {"eps", "1e-08"}});
}

TEST(OptimReference, LionMatchesAutomlEveryStep) {
  check_against_torch<Lion>("lion", 1.0, 0.1, LionOptions{}, {{"beta1", "0.9"}, {"beta2", "0.99"}});
  check_against_torch<Lion>("lion", 0.0, 0.0, LionOptions{.beta1 = 0.95, .beta2 = 0.98},
                            {{"beta1", "0.95"}, {"beta2", "0.98"}});
}

TEST(OptimReference, ClipGradNormMatchesTorch) {
  Case c = make_case(0.0, 0.0);
  const std::vector<double> max_norms = {0.05, 1e6};  // clipping active, and inactive
  const std::string dir = temp_dir();
  const std::string in = write_inputs(c, dir + "/clip_in.safetensors", {{"max_norms", "0.05,1e6"}});
  RUN_TORCH_OR_SKIP(fmt::format("clip {} {}/clip_out.safetensors", in, dir));
  auto ref = SafetensorsFile::open(dir + "/clip_out.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  Agreement a;
  for (size_t j = 0; j < max_norms.size(); ++j) {
    std::vector<Tensor> grads;
    for (const Tensor& g : c.grads[0]) grads.push_back(g.clone());
    const float norm = clip_grad_norm(grads, max_norms[j]);
    compare(Tensor::full({}, norm), *ref->get(fmt::format("norm.{}", j)), "norm", a);
    for (size_t k = 0; k < grads.size(); ++k) compare(grads[k], *ref->get(fmt::format("c.{}.{}", j, k)), "clipped", a);
  }
  std::printf("[ clip vs torch ] %lld values, %lld bit-identical, max relative difference %.3g\n",
              static_cast<long long>(a.n_elements), static_cast<long long>(a.n_bit_exact), a.max_rel);
  EXPECT_GE(static_cast<double>(a.n_bit_exact), kMinBitExactFraction * static_cast<double>(a.n_elements));
}

TEST(OptimReference, SchedulesMatchTransformersFormulas) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 not found";
  struct Config {
    ScheduleKind kind;
    double peak, min_lr;
    int64_t n, w;
  };
  const std::vector<Config> configs = {{ScheduleKind::kCosine, 1e-3, 0.0, 50, 5},
                                       {ScheduleKind::kCosine, 6e-4, 6e-5, 97, 0},
                                       {ScheduleKind::kCosine, 3e-4, 3e-5, 40, 40},
                                       {ScheduleKind::kLinear, 2e-3, 0.0, 33, 7},
                                       {ScheduleKind::kConstant, 1e-4, 0.0, 20, 6}};
  nlohmann::json args = nlohmann::json::array();
  for (const Config& c : configs)
    args.push_back({schedule_kind_name(c.kind), c.peak, c.min_lr, c.n, c.w, c.n + 1});  // steps 0..N
  const PythonRun out = run_python("schedule '" + args.dump() + "'");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  const auto expect = nlohmann::json::parse(out.output).get<std::vector<std::vector<double>>>();
  ASSERT_EQ(expect.size(), configs.size());
  for (size_t j = 0; j < configs.size(); ++j) {
    const Config& c = configs[j];
    const LrSchedule s = *LrSchedule::create(
        {.kind = c.kind, .peak_lr = c.peak, .min_lr = c.min_lr, .total_steps = c.n, .warmup_steps = c.w});
    ASSERT_EQ(expect[j].size(), static_cast<size_t>(c.n + 1));
    for (int64_t t = 0; t <= c.n; ++t)
      EXPECT_NEAR(s.lr(t), expect[j][static_cast<size_t>(t)], kScheduleRelTol * c.peak) << args[j].dump() << " step " << t;
  }
}

}  // namespace
}  // namespace anvil::optim
