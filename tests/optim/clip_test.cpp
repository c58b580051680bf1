// clip_grad_norm (torch semantics): returns the pre-clip norm, scales by min(1, max/(norm+1e-6))
// always, skips undefined grads, is independent of the thread count.
#include "anvil/optim/clip.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "optim_test_util.h"

namespace anvil::optim {
namespace {

TEST(Clip, ScalesByMaxOverNormPlusEps) {
  std::vector<Tensor> grads = {Tensor::from_vector({3.0f}, {1}), Tensor::from_vector({4.0f}, {1}), Tensor()};
  const float norm = clip_grad_norm(grads, 1.0);
  EXPECT_EQ(norm, 5.0f);
  const float coef = (1.0f / (5.0f + kClipNormEps)) * 1.0f;
  EXPECT_EQ(grads[0].data<float>()[0], 3.0f * coef);
  EXPECT_EQ(grads[1].data<float>()[0], 4.0f * coef);
}

TEST(Clip, BelowMaxIsUnchangedAndJustBelowIsStillScaled) {
  std::vector<Tensor> grads = {Tensor::from_vector({3.0f, 4.0f}, {2})};
  EXPECT_EQ(clip_grad_norm(grads, 10.0), 5.0f);
  EXPECT_EQ(test::values(grads[0]), (std::vector<float>{3.0f, 4.0f}));  // coef clamps to 1
  // max_norm == norm: the +1e-6 still scales by slightly less than 1.
  EXPECT_EQ(clip_grad_norm(grads, 5.0), 5.0f);
  EXPECT_LT(grads[0].data<float>()[1], 4.0f);
  EXPECT_GT(grads[0].data<float>()[1], 4.0f * (1 - 1e-6f));
  // Zero gradients and no gradients: norm 0, nothing changes.
  std::vector<Tensor> zeros = {Tensor::zeros({4})};
  EXPECT_EQ(clip_grad_norm(zeros, 1.0), 0.0f);
  EXPECT_EQ(clip_grad_norm(std::vector<Tensor>{}, 1.0), 0.0f);
}

TEST(Clip, NonFiniteNormPropagates) {
  std::vector<Tensor> grads = {Tensor::from_vector({NAN, 1.0f}, {2})};
  EXPECT_TRUE(std::isnan(clip_grad_norm(grads, 1.0)));
  EXPECT_TRUE(std::isnan(grads[0].data<float>()[1]));
}

TEST(Clip, SameResultForAnyThreadCount) {
  std::vector<float> norms;
  std::vector<std::vector<float>> clipped;
  for (int n_threads : {1, 2}) {
    omp_set_num_threads(n_threads);
    Rng rng(11);
    std::vector<Tensor> grads = {test::randn({300001}, rng), test::randn({7, 9}, rng)};
    norms.push_back(clip_grad_norm(grads, 1.0));
    clipped.push_back(test::values(grads[0]));
  }
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(norms[0], norms[1]);
  EXPECT_EQ(clipped[0], clipped[1]);
  EXPECT_NEAR(norms[0], std::sqrt(300001.0 + 63.0), 2.0);  // ~ sqrt(n) for unit normals
}

}  // namespace
}  // namespace anvil::optim
