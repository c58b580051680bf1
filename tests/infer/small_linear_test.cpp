// small_linear (decode-sized linear layers) in both weight layouts, with and without bias, for every row
// count 1..kSmallLinearMaxRows at strided input/output, sizes with 16-lane tails, tiny and large (on both
// sides of the threading threshold): against a double-precision reference, never reading past `in` in a
// row (the gaps hold NaN), never writing past `out`; and batch invariance: a row's output is bit-identical
// whatever the number of rows in the call and whichever other rows share it — and its consequence in
// Engine: a sequence decoded alone or batched with up to 15 others gets bit-identical logits (rows past 8
// run as a second pass over cache-hot weights: same per-row arithmetic).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/infer/engine.h"
#include "anvil/infer/small_linear.h"

namespace anvil::infer {
namespace {

// |got - want| <= kDotRelTol * (sum_i |x_i w_i| + |b|): fp32 accumulation of up to ~1000 products
// (observed worst ratio ~3e-7).
constexpr double kDotRelTol = 4e-6;
constexpr float kOutPad = 7.0f;
constexpr int64_t kInPad = 3, kOutPadCols = 5;

struct Shape {
  int64_t in, out;
};
// Tails of 1..15 lanes on either side, a single lane, the 15M LLaMA shapes and ones past the threading
// threshold (kParallelMinWeights = 2^15 weights).
constexpr Shape kShapes[] = {{1, 1}, {5, 7}, {16, 16}, {17, 33}, {31, 129}, {288, 288}, {288, 768},
                             {768, 291}, {300, 1000}, {1030, 70}};

std::vector<float> normals(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(r.normal());
  return v;
}

// A layer's weights with NaN past the end (a read past the matrix shows in every output it touches).
struct Layer {
  std::vector<float> w, b;
  model::Linear lin;
  Layer(Shape s, model::WeightLayout layout, bool bias, uint64_t seed)
      : w(normals(s.in * s.out, seed)), b(normals(s.out, seed + 1)) {
    w.resize(w.size() + 64, std::numeric_limits<float>::quiet_NaN());
    b.resize(b.size() + 64, std::numeric_limits<float>::quiet_NaN());
    lin = {.w = w.data(), .b = bias ? b.data() : nullptr, .in = s.in, .out = s.out, .layout = layout};
  }
  float weight(int64_t i, int64_t o) const {
    return lin.layout == model::WeightLayout::kOutIn ? w[static_cast<size_t>(o * lin.in + i)]
                                                     : w[static_cast<size_t>(i * lin.out + o)];
  }
};

// N input rows of `in` values at stride in + kInPad; the gaps (and the tail) hold NaN.
std::vector<float> inputs(int64_t N, int64_t in, uint64_t seed) {
  const int64_t ldi = in + kInPad;
  std::vector<float> x(static_cast<size_t>(N * ldi + 64), std::numeric_limits<float>::quiet_NaN());
  const auto v = normals(N * in, seed);
  for (int64_t n = 0; n < N; ++n)
    std::copy_n(v.begin() + n * in, in, x.begin() + n * ldi);
  return x;
}

// Runs small_linear into a padded output (N rows at stride out + kOutPadCols, pads = kOutPad).
std::vector<float> run(const model::Linear& lin, const std::vector<float>& x, int64_t N) {
  const int64_t ldo = lin.out + kOutPadCols;
  std::vector<float> y(static_cast<size_t>(N * ldo), kOutPad);
  small_linear(lin, y.data(), ldo, x.data(), lin.in + kInPad, N);
  return y;
}

const char* layout_name(model::WeightLayout l) { return l == model::WeightLayout::kOutIn ? "out_in" : "in_out"; }

TEST(SmallLinear, MatchesDoubleReference) {
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (const Shape s : kShapes) {
      for (bool bias : {false, true}) {
        const Layer layer(s, layout, bias, 1);
        for (int64_t N = 1; N <= kSmallLinearMaxRows; ++N) {
          SCOPED_TRACE(testing::Message() << layout_name(layout) << " in=" << s.in << " out=" << s.out
                                          << " bias=" << bias << " N=" << N);
          const auto x = inputs(N, s.in, 10 + static_cast<uint64_t>(N));
          const auto y = run(layer.lin, x, N);
          const int64_t ldi = s.in + kInPad, ldo = s.out + kOutPadCols;
          int n_bad = 0;
          for (int64_t n = 0; n < N; ++n) {
            for (int64_t o = 0; o < s.out; ++o) {
              double want = bias ? layer.b[static_cast<size_t>(o)] : 0.0, scale = std::fabs(want);
              for (int64_t i = 0; i < s.in; ++i) {
                const double p = static_cast<double>(x[static_cast<size_t>(n * ldi + i)]) * layer.weight(i, o);
                want += p, scale += std::fabs(p);
              }
              const double got = y[static_cast<size_t>(n * ldo + o)];
              if (!(std::fabs(got - want) <= kDotRelTol * scale) && n_bad++ < 3)
                ADD_FAILURE() << "row " << n << " output " << o << ": got " << got << ", want " << want;
            }
            for (int64_t c = s.out; c < ldo; ++c) EXPECT_EQ(y[static_cast<size_t>(n * ldo + c)], kOutPad);
          }
          EXPECT_EQ(n_bad, 0);
        }
      }
    }
  }
}

TEST(SmallLinear, RowsAreBitIdenticalWhateverTheBatch) {
  constexpr int64_t kRows = kSmallLinearMaxRows;
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (const Shape s : kShapes) {
      for (bool bias : {false, true}) {
        SCOPED_TRACE(testing::Message() << layout_name(layout) << " in=" << s.in << " out=" << s.out
                                        << " bias=" << bias);
        const Layer layer(s, layout, bias, 2);
        const int64_t ldi = s.in + kInPad, ldo = s.out + kOutPadCols;
        const auto pool = inputs(kRows, s.in, 3);  // row r of the pool, alone: alone[r]
        std::vector<std::vector<float>> alone;
        for (int64_t r = 0; r < kRows; ++r)
          alone.push_back(run(layer.lin, std::vector<float>(pool.begin() + r * ldi, pool.end()), 1));
        // Every batch size, each pool row at a different position and with different neighbours.
        for (int64_t N = 1; N <= kRows; ++N) {
          for (int64_t shift = 0; shift < kRows; shift += 3) {
            std::vector<float> x(static_cast<size_t>(N * ldi + 64), std::numeric_limits<float>::quiet_NaN());
            std::vector<int64_t> src(static_cast<size_t>(N));
            for (int64_t n = 0; n < N; ++n) {
              src[static_cast<size_t>(n)] = (n * 5 + shift + N) % kRows;
              std::copy_n(pool.begin() + src[static_cast<size_t>(n)] * ldi, ldi, x.begin() + n * ldi);
            }
            const auto y = run(layer.lin, x, N);
            for (int64_t n = 0; n < N; ++n) {
              const float* got = y.data() + n * ldo;
              const float* want = alone[static_cast<size_t>(src[static_cast<size_t>(n)])].data();
              EXPECT_EQ(std::memcmp(got, want, static_cast<size_t>(s.out) * sizeof(float)), 0)
                  << "N=" << N << " row " << n << " (pool row " << src[static_cast<size_t>(n)] << ")";
            }
          }
        }
      }
    }
  }
}

// Engine: each of kSmallLinearMaxRows (16) sequences prefilled alone, then decoded (a) alone, one token per
// forward, and (b) in batches of a varying two-thirds of them in a rotating order (up to 11 rows, so past
// one pass): the logits of every (sequence, position) are bit-identical. GPT-2 (Conv1D weights, kInOut)
// and LLaMA (nn.Linear, kOutIn, GQA).
TEST(SmallLinear, EngineDecodeIsBatchInvariant) {
  constexpr int64_t kSeqs = kSmallLinearMaxRows, kPrompt = 5, kSteps = 9;
  for (const char* config :
       {R"({"model_type":"gpt2","vocab_size":97,"n_positions":40,"n_embd":40,"n_layer":2,"n_head":4,
            "initializer_range":0.1})",
        R"({"model_type":"llama","vocab_size":101,"hidden_size":48,"intermediate_size":88,"num_hidden_layers":2,
            "num_attention_heads":6,"num_key_value_heads":2,"max_position_embeddings":64,"tie_word_embeddings":false,
            "attention_bias":true,"initializer_range":0.1})"}) {
    SCOPED_TRACE(config);
    auto cfg = model::parse_config(config, "test config");
    ASSERT_TRUE(cfg.ok()) << cfg.status().to_string();
    auto m = model::Transformer::create(*cfg);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    m->init_weights(7);
    Rng rng(8);  // biases start at zero; random ones make their rounding show
    for (model::Param& p : m->params())
      if (p.kind == model::ParamKind::kBias)
        for (int64_t i = 0; i < p.value.numel(); ++i)
          p.value.data<float>()[i] = 0.1f * static_cast<float>(rng.normal());
    const int64_t V = cfg->vocab_size;
    auto token = [&](int64_t seq, int64_t pos) { return static_cast<int32_t>((seq * 31 + pos * 7 + 3) % V); };
    // logits[seq][step]: V floats
    auto decode_all = [&](bool batched) {
      std::vector<float> logits(static_cast<size_t>(kSeqs * kSteps * V));
      auto eng = Engine::create(*m, {.n_slots = kSeqs, .max_seq = kPrompt + kSteps, .max_batch_tokens = kSeqs});
      EXPECT_TRUE(eng.ok()) << eng.status().to_string();
      std::vector<float> out(static_cast<size_t>(kSeqs * V));
      for (int64_t s = 0; s < kSeqs; ++s) {
        std::vector<int32_t> prompt;
        for (int64_t p = 0; p < kPrompt; ++p) prompt.push_back(token(s, p));
        EXPECT_TRUE(eng->prefill(s, prompt, 0, out.data()).ok());
      }
      std::vector<int64_t> step(kSeqs, 0);  // decode steps done per sequence
      for (int64_t round = 0; std::any_of(step.begin(), step.end(), [&](int64_t k) { return k < kSteps; }); ++round) {
        std::vector<TokenInput> batch;
        for (int64_t j = 0; j < kSeqs; ++j) {
          const int64_t s = (j + round) % kSeqs;
          if (step[static_cast<size_t>(s)] == kSteps || (batched ? (s + round) % 3 == 0 : s != round % kSeqs)) continue;
          batch.push_back({.slot = s, .token = token(s, kPrompt + step[static_cast<size_t>(s)]),
                           .pos = kPrompt + step[static_cast<size_t>(s)]});
        }
        if (batch.empty()) continue;
        auto n = eng->forward(batch, LogitsFor::kAll, out.data());
        EXPECT_TRUE(n.ok()) << n.status().to_string();
        for (size_t r = 0; r < batch.size(); ++r) {
          const int64_t s = batch[r].slot, k = step[static_cast<size_t>(s)]++;
          std::copy_n(out.begin() + static_cast<int64_t>(r) * V, V, logits.begin() + (s * kSteps + k) * V);
        }
      }
      return logits;
    };
    const auto alone = decode_all(false), batched = decode_all(true);
    for (int64_t s = 0; s < kSeqs; ++s)
      for (int64_t k = 0; k < kSteps; ++k)
        EXPECT_EQ(std::memcmp(alone.data() + (s * kSteps + k) * V, batched.data() + (s * kSteps + k) * V,
                              static_cast<size_t>(V) * sizeof(float)), 0)
            << "sequence " << s << " decode step " << k;
  }
}

}  // namespace
}  // namespace anvil::infer
