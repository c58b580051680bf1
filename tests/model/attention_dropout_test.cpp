// Attention-probability dropout in the model (attn_pdrop / attention_dropout): applied only in training,
// with one mask per (seed, step, layer) shared by forward and backward; eval, eval_loss and logits() are
// the model without it. The gradient itself is finite-differenced in gradient_test.cpp.
#include <vector>

#include "model_test_util.h"

namespace anvil::model {
namespace {

using testing::make_batch;
using testing::make_model;

constexpr const char* kWithDropout = R"({"model_type":"llama","vocab_size":23,"hidden_size":16,
    "intermediate_size":24,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "max_position_embeddings":16,"attention_dropout":0.4})";
constexpr const char* kWithoutDropout = R"({"model_type":"llama","vocab_size":23,"hidden_size":16,
    "intermediate_size":24,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "max_position_embeddings":16,"attention_dropout":0})";

TEST(AttentionDropout, TrainOnlyAndFixedBySeedAndStep) {
  const int64_t B = 2, T = 9;
  Transformer drop = make_model(kWithDropout, 4), plain = make_model(kWithoutDropout, 4);  // same weights
  ASSERT_TRUE(drop.plan(B, T).ok());
  ASSERT_TRUE(plain.plan(B, T).ok());
  const auto b = make_batch(B, T, drop.config().vocab_size, 12);
  const StepOptions train{.mode = Mode::kTrain, .seed = 9, .step = 3};

  // Eval paths ignore attention dropout.
  const int64_t n_logits = B * T * drop.config().vocab_size;
  std::vector<float> l_drop(n_logits), l_plain(n_logits);
  drop.logits(b.ids.data(), l_drop.data(), Precision::kF32);
  plain.logits(b.ids.data(), l_plain.data(), Precision::kF32);
  EXPECT_EQ(l_drop, l_plain);
  EXPECT_EQ(drop.eval_loss(b.ids.data(), b.targets.data(), train), plain.eval_loss(b.ids.data(), b.targets.data(), train));
  StepOptions eval_mode = train;
  eval_mode.mode = Mode::kEval;
  EXPECT_EQ(drop.forward(b.ids.data(), b.targets.data(), eval_mode),
            plain.forward(b.ids.data(), b.targets.data(), eval_mode));

  // Training applies it: a different loss than without, the same for the same (seed, step), different
  // for another step.
  const float loss_plain = plain.forward(b.ids.data(), b.targets.data(), train);
  const float loss_a = drop.forward(b.ids.data(), b.targets.data(), train);
  EXPECT_NE(loss_a, loss_plain);
  EXPECT_EQ(drop.forward(b.ids.data(), b.targets.data(), train), loss_a);
  StepOptions next = train;
  next.step = 4;
  EXPECT_NE(drop.forward(b.ids.data(), b.targets.data(), next), loss_a);

  // Gradients with dropout differ from those without (the backward sees the mask) and repeat exactly.
  drop.zero_grad();
  drop.forward_backward(b.ids.data(), b.targets.data(), train);
  const Tensor g1 = drop.flat_grads().clone();
  drop.zero_grad();
  drop.forward_backward(b.ids.data(), b.targets.data(), train);
  const Tensor g2 = drop.flat_grads().clone();
  plain.zero_grad();
  plain.forward_backward(b.ids.data(), b.targets.data(), train);
  const float* a = g1.data<float>();
  const float* c = g2.data<float>();
  const float* p = plain.flat_grads().data<float>();
  bool same_as_plain = true;
  for (int64_t i = 0; i < g1.numel(); ++i) {
    ASSERT_EQ(a[i], c[i]) << "gradient " << i << " not reproducible";
    same_as_plain = same_as_plain && a[i] == p[i];
  }
  EXPECT_FALSE(same_as_plain);
}

}  // namespace
}  // namespace anvil::model
