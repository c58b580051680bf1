// AdamW and Lion without PyTorch: first-step closed forms, sign(0) and decay-only updates, skipped
// parameters, thread-count independence, exact resume through a safetensors state file, state and
// hyper-parameter errors, and the weight-decay grouping rule.
#include "anvil/optim/optimizer.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "anvil/optim/param_groups.h"
#include "optim_test_util.h"
#include "support/temp_dir.h"

namespace anvil::optim {
namespace {

using test::fill_grads;
using test::make_params;
using test::values;

// |Δθ| on AdamW's first step is lr·|g|/(|g| + ε·...) — within this of lr for |g| >> ε.
constexpr double kFirstStepRelTol = 1e-5;
constexpr double kF32Eps = 0x1.0p-23;  // θ after − θ before is measured in f32: ±1 ulp of |θ| each

std::vector<ParamGroup> two_groups(double wd0, double wd1) {
  return {{.name = "g0", .weight_decay = wd0}, {.name = "g1", .weight_decay = wd1, .lr_scale = 0.5}};
}

TEST(AdamW, FirstStepMovesEachWeightByLrTimesSignOfGrad) {
  auto params = make_params(1);
  auto before = values(params[1].value);
  auto opt = AdamW::create(params, two_groups(0.0, 0.0));
  ASSERT_TRUE(opt.ok());
  fill_grads((*opt)->params(), 1, 0);
  const double lr = 1e-2;
  (*opt)->step(lr);
  const ParamRef& p = (*opt)->params()[1];  // group 1: lr_scale 0.5
  for (int64_t i = 0; i < p.value.numel(); ++i) {
    const float g = p.grad.data<float>()[i];
    const double delta = p.value.data<float>()[i] - before[static_cast<size_t>(i)];
    const double ulps = 2 * kF32Eps * std::fabs(before[static_cast<size_t>(i)]);
    EXPECT_NEAR(delta, -0.5 * lr * (g > 0 ? 1 : -1), 0.5 * lr * kFirstStepRelTol + ulps) << i;
  }
  EXPECT_EQ((*opt)->state()[2].second.data<int64_t>()[0], 1);  // p0.step
}

TEST(AdamW, DefaultsAndDecayOnly) {
  auto params = make_params(2);
  for (ParamRef& p : params) p.group = 0;
  auto opt = AdamW::create(params, {});  // one default group: wd 1e-2
  ASSERT_TRUE(opt.ok());
  EXPECT_EQ((*opt)->groups().size(), 1u);
  EXPECT_EQ((*opt)->groups()[0].weight_decay, kAdamWDefaultWeightDecay);
  EXPECT_EQ((*opt)->options().beta2, 0.999);
  EXPECT_EQ((*opt)->options().eps, 1e-8);
  // Zero gradient: m = v = 0, the Adam term is 0/(0 + ε) = 0, only the decay acts.
  const auto before = values((*opt)->params()[0].value);
  (*opt)->step(kAdamWDefaultLr);
  const float decay = static_cast<float>(1.0 - kAdamWDefaultLr * kAdamWDefaultWeightDecay);
  const auto after = values((*opt)->params()[0].value);
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i], before[i] * decay);
}

TEST(Lion, FirstStepIsSignOfGradAndZeroGradOnlyDecays) {
  auto params = make_params(3);
  auto opt = Lion::create(params, two_groups(0.0, 0.5));
  ASSERT_TRUE(opt.ok());
  EXPECT_EQ((*opt)->options().beta2, 0.99);
  fill_grads((*opt)->params(), 3, 0);
  ParamRef& p0 = (*opt)->params()[0];
  p0.grad.data<float>()[5] = 0.0f;  // sign(0) = 0: no move
  const auto b0 = values(p0.value), b1 = values((*opt)->params()[1].value);
  const double lr = 1e-3;
  (*opt)->step(lr);
  for (int64_t i = 0; i < p0.value.numel(); ++i) {
    const float g = p0.grad.data<float>()[i];
    const float expect = g == 0.0f ? b0[static_cast<size_t>(i)]
                                   : b0[static_cast<size_t>(i)] - static_cast<float>(lr) * (g > 0 ? 1.0f : -1.0f);
    EXPECT_EQ(p0.value.data<float>()[i], expect) << i;
  }
  // Group 1 (lr_scale 0.5, wd 0.5): θ·(1 − lr'·λ) − lr'·sign(g), lr' = lr/2.
  const ParamRef& p1 = (*opt)->params()[1];
  const double lr1 = lr * 0.5;
  for (int64_t i = 0; i < p1.value.numel(); ++i) {
    const float g = p1.grad.data<float>()[i];
    const float decayed = b1[static_cast<size_t>(i)] * static_cast<float>(1.0 - lr1 * 0.5);
    EXPECT_EQ(p1.value.data<float>()[i], decayed - static_cast<float>(lr1) * (g > 0 ? 1.0f : -1.0f)) << i;
  }
}

TEST(Optimizer, ParamsWithoutGradAreSkippedEntirely) {
  auto params = make_params(4);
  params[2].grad = Tensor();
  const auto before = values(params[2].value);
  auto opt = AdamW::create(params, two_groups(0.1, 0.1));
  ASSERT_TRUE(opt.ok());
  fill_grads((*opt)->params(), 4, 0);
  (*opt)->step(1e-2);
  EXPECT_EQ(values((*opt)->params()[2].value), before);  // no decay either
  for (const auto& [name, t] : (*opt)->state())
    if (name == "p2.step") {
      EXPECT_EQ(t.data<int64_t>()[0], 0);
    }
}

TEST(Optimizer, ResultsDoNotDependOnThreadCount) {
  const int64_t big = 100003;  // above the parallel threshold, not a multiple of the vector width
  std::vector<std::vector<float>> results;
  for (int n_threads : {1, 2}) {
    omp_set_num_threads(n_threads);
    auto opt = AdamW::create(make_params(5, big), two_groups(0.1, 0.0));
    ASSERT_TRUE(opt.ok());
    for (int t = 0; t < 3; ++t) {
      fill_grads((*opt)->params(), 5, t);
      (*opt)->step(1e-3);
    }
    results.push_back(values((*opt)->params().back().value));
  }
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(results[0], results[1]);
}

template <typename Opt>
std::vector<std::vector<float>> run_steps(Opt& opt, int from, int to, uint64_t seed) {
  for (int t = from; t < to; ++t) {
    fill_grads(opt.params(), seed, t);
    opt.step(1e-3 * (1.0 + 0.1 * t));
  }
  std::vector<std::vector<float>> out;
  for (const ParamRef& p : opt.params()) out.push_back(values(p.value));
  return out;
}

template <typename Opt, typename Options>
void check_exact_resume(const Options& options) {
  const uint64_t seed = 6;
  auto straight = Opt::create(make_params(seed), two_groups(0.1, 0.01), options);
  ASSERT_TRUE(straight.ok());
  const auto expect = run_steps(**straight, 0, 10, seed);

  auto first = Opt::create(make_params(seed), two_groups(0.1, 0.01), options);
  run_steps(**first, 0, 5, seed);
  const std::string dir = anvil::test::fresh_temp_dir("resume").string();
  NamedTensors weights;
  for (const ParamRef& p : (*first)->params()) weights.emplace_back(p.name, p.value);
  ASSERT_TRUE(save_safetensors(dir + "/weights.safetensors", weights).ok());
  ASSERT_TRUE(save_safetensors(dir + "/optim.safetensors", (*first)->state(), {{"optimizer", (*first)->kind()}}).ok());

  // A fresh process would rebuild the model and optimizer, then load both files.
  auto params = make_params(seed + 100);  // different initial values, overwritten below
  auto wfile = SafetensorsFile::open(dir + "/weights.safetensors");
  ASSERT_TRUE(wfile.ok());
  for (ParamRef& p : params) p.value.copy_from(*wfile->get(p.name));
  auto resumed = Opt::create(std::move(params), two_groups(0.1, 0.01), options);
  auto ofile = SafetensorsFile::open(dir + "/optim.safetensors");
  ASSERT_TRUE(ofile.ok());
  EXPECT_EQ(ofile->metadata().at("optimizer"), (*resumed)->kind());
  ASSERT_TRUE((*resumed)->load_state(*ofile).ok());
  EXPECT_EQ(run_steps(**resumed, 5, 10, seed), expect);  // identical bits
}

TEST(Optimizer, SaveFiveLoadFiveEqualsTenStepsBitForBit) {
  check_exact_resume<AdamW>(AdamWOptions{});
  check_exact_resume<Lion>(LionOptions{});
}

TEST(Optimizer, LoadStateErrorsNameTheTensor) {
  auto opt = AdamW::create(make_params(7), two_groups(0.0, 0.0));
  ASSERT_TRUE(opt.ok());
  NamedTensors state = (*opt)->state();
  NamedTensors missing(state.begin() + 1, state.end());
  EXPECT_NE((*opt)->load_state(missing).message().find("state tensor 'p0.exp_avg' is missing"), std::string::npos);
  NamedTensors wrong_shape = state;
  wrong_shape[0].second = Tensor::zeros({36});
  EXPECT_NE((*opt)->load_state(wrong_shape).message().find("'p0.exp_avg' has shape [36], the parameter needs [37]"),
            std::string::npos);
  NamedTensors extra = state;
  extra.emplace_back("p9.exp_avg", Tensor::zeros({1}));
  EXPECT_NE((*opt)->load_state(extra).message().find("unexpected state tensor 'p9.exp_avg'"), std::string::npos);
  NamedTensors wrong_dtype = state;
  wrong_dtype[2].second = Tensor::zeros({}, DType::kI32);
  EXPECT_NE((*opt)->load_state(wrong_dtype).message().find("'p0.step' is I32, expected I64"), std::string::npos);
}

TEST(Optimizer, CreateRejectsBadHyperParameters) {
  EXPECT_NE(AdamW::create(make_params(8), two_groups(0, 0), {.beta1 = 1.0}).status().message().find("beta1 = 1 is outside [0, 1)"),
            std::string::npos);
  EXPECT_FALSE(AdamW::create(make_params(8), two_groups(0, 0), {.eps = -1.0}).ok());
  EXPECT_FALSE(Lion::create(make_params(8), two_groups(0, 0), {.beta2 = -0.1}).ok());
  EXPECT_NE(Lion::create(make_params(8), {{.name = "x", .weight_decay = -1}}).status().message().find("group 'x'"),
            std::string::npos);
}

TEST(ParamGroups, NanoGptRuleWithOptionalEmbeddingExclusion) {
  std::vector<ParamRef> params = {
      {.name = "transformer.wte.weight", .value = Tensor::zeros({10, 4}), .grad = Tensor()},
      {.name = "model.embed_tokens.weight", .value = Tensor::zeros({10, 4}), .grad = Tensor()},
      {.name = "h.0.attn.c_attn.weight", .value = Tensor::zeros({4, 12}), .grad = Tensor()},
      {.name = "h.0.attn.c_attn.bias", .value = Tensor::zeros({12}), .grad = Tensor()},
      {.name = "h.0.ln_1.weight", .value = Tensor::zeros({4}), .grad = Tensor()},
      {.name = "scale", .value = Tensor::zeros({}), .grad = Tensor()},
  };
  auto groups = assign_decay_groups(params, {.weight_decay = 0.1});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[kDecayGroup].weight_decay, 0.1);
  EXPECT_EQ(groups[kNoDecayGroup].weight_decay, 0.0);
  std::vector<int> got;
  for (const ParamRef& p : params) got.push_back(p.group);
  EXPECT_EQ(got, (std::vector<int>{0, 0, 0, 1, 1, 1}));
  assign_decay_groups(params, {.weight_decay = 0.1, .embeddings = EmbeddingDecay::kNoDecay});
  got.clear();
  for (const ParamRef& p : params) got.push_back(p.group);
  EXPECT_EQ(got, (std::vector<int>{1, 1, 0, 1, 1, 1}));
}

}  // namespace
}  // namespace anvil::optim
