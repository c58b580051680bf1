// packed_linear (the engine's linear layers) on PackedLinears packed from both weight layouts, with and
// without bias, for every row count of a 16-row block and counts spanning blocks, at strided input/output,
// sizes with partial panels (48 outputs) and 16-lane tails, tiny and large (on both sides of the threading
// threshold): against a double-precision reference, never reading past `in` in a row or past the weights
// (the gaps hold NaN), never writing past `out`; and batch invariance: a row's output is bit-identical
// whatever the number of rows in the call and whichever other rows share it — and its consequence in
// Engine: a token's logits are the same bits decoded alone, batched with up to 15 others, or inside a
// prefill chunk. The fused forms (packed_linears, packed_linear_add, packed_swiglu_mlp) give bit-identical
// results to the unfused calls they replace, at 1, 2 and 3 threads (so the work splits differ), never
// writing outside their outputs.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "anvil/base/rng.h"
#include "anvil/infer/engine.h"
#include "anvil/infer/packed_linear.h"
#include "anvil/kernels/ops.h"

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
// Every count of one row block (two passes of 8) and counts that span blocks (prefill chunks).
constexpr std::array<int64_t, 20> kRowCounts = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24, 33, 40};
// Partial panels and tails of 1..15 lanes on either side, a single lane, the 15M LLaMA shapes and ones past the threading
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
  PackedLinear packed;  // of lin
  Layer(Shape s, model::WeightLayout layout, bool bias, uint64_t seed)
      : w(normals(s.in * s.out, seed)), b(normals(s.out, seed + 1)) {
    w.resize(w.size() + 64, std::numeric_limits<float>::quiet_NaN());
    b.resize(b.size() + 64, std::numeric_limits<float>::quiet_NaN());
    lin = {.w = w.data(), .b = bias ? b.data() : nullptr, .in = s.in, .out = s.out, .layout = layout};
    packed = PackedLinear(lin);
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

// Runs packed_linear into a padded output (N rows at stride out + kOutPadCols, pads = kOutPad).
std::vector<float> run(const Layer& layer, const std::vector<float>& x, int64_t N) {
  const int64_t ldo = layer.lin.out + kOutPadCols;
  std::vector<float> y(static_cast<size_t>(N * ldo), kOutPad);
  packed_linear(layer.packed, y.data(), ldo, x.data(), layer.lin.in + kInPad, N);
  return y;
}

const char* layout_name(model::WeightLayout l) { return l == model::WeightLayout::kOutIn ? "out_in" : "in_out"; }

// This binary runs the loops its build of packed_linear.cpp was meant to: test_infer the build's own
// (AVX-512 under CI's -march=native), test_infer_portable the plain loops (that one file built for
// x86-64-v3 and linked ahead of anvil_infer's copy; see CMakeLists.txt).
TEST(PackedLinear, RunsTheKernelOfItsBuild) {
#if defined(ANVIL_WANT_PORTABLE_LINEAR)
  EXPECT_STREQ(packed_linear_kernel(), "portable");
#elif defined(__AVX512F__)
  EXPECT_STREQ(packed_linear_kernel(), "avx512");
#else
  EXPECT_STREQ(packed_linear_kernel(), "portable");
#endif
}

TEST(PackedLinear, MatchesDoubleReference) {
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (const Shape s : kShapes) {
      for (bool bias : {false, true}) {
        const Layer layer(s, layout, bias, 1);
        for (const int64_t N : kRowCounts) {
          SCOPED_TRACE(testing::Message() << layout_name(layout) << " in=" << s.in << " out=" << s.out
                                          << " bias=" << bias << " N=" << N);
          const auto x = inputs(N, s.in, 10 + static_cast<uint64_t>(N));
          const auto y = run(layer, x, N);
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

TEST(PackedLinear, RowsAreBitIdenticalWhateverTheBatch) {
  constexpr int64_t kRows = kRowCounts.back();
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
          alone.push_back(run(layer, std::vector<float>(pool.begin() + r * ldi, pool.end()), 1));
        // Every batch size, each pool row at a different position and with different neighbours.
        for (const int64_t N : kRowCounts) {
          for (int64_t shift = 0; shift < kRows; shift += 3) {
            std::vector<float> x(static_cast<size_t>(N * ldi + 64), std::numeric_limits<float>::quiet_NaN());
            std::vector<int64_t> src(static_cast<size_t>(N));
            for (int64_t n = 0; n < N; ++n) {
              src[static_cast<size_t>(n)] = (n * 5 + shift + N) % kRows;
              std::copy_n(pool.begin() + src[static_cast<size_t>(n)] * ldi, ldi, x.begin() + n * ldi);
            }
            const auto y = run(layer, x, N);
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

// Engine: 16 sequences of 5 prompt + 20 fed tokens, the logits of each fed token got three ways: (a) the
// prompt prefilled alone, then one token per forward; (b) the same decode steps in batches of a varying
// two-thirds of the sequences in a rotating order (up to 11 rows, so past one pass); (c) every token of a
// sequence in one forward, two sequences per forward (50 rows: row blocks of 16, attention of 25 new
// queries at once). All bit-identical. GPT-2 (Conv1D weights, kInOut) and LLaMA (nn.Linear, kOutIn, GQA).
TEST(PackedLinear, EngineLogitsDoNotDependOnTheBatch) {
  constexpr int64_t kSeqs = 16, kPrompt = 5, kSteps = 20, kLen = kPrompt + kSteps;
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
    auto make_engine = [&] {
      auto eng = Engine::create(*m, {.n_slots = kSeqs, .max_seq = kLen, .max_batch_tokens = 2 * kLen});
      EXPECT_TRUE(eng.ok()) << eng.status().to_string();
      return std::move(*eng);
    };
    std::vector<float> out(static_cast<size_t>(2 * kLen * V));
    // logits[seq][step]: V floats, the logits of the token at position kPrompt + step
    auto decode_all = [&](bool batched) {
      std::vector<float> logits(static_cast<size_t>(kSeqs * kSteps * V));
      Engine eng = make_engine();
      for (int64_t s = 0; s < kSeqs; ++s) {
        std::vector<int32_t> prompt;
        for (int64_t p = 0; p < kPrompt; ++p) prompt.push_back(token(s, p));
        EXPECT_TRUE(eng.prefill(s, prompt, 0, out.data()).ok());
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
        auto n = eng.forward(batch, LogitsFor::kAll, out.data());
        EXPECT_TRUE(n.ok()) << n.status().to_string();
        for (size_t r = 0; r < batch.size(); ++r) {
          const int64_t s = batch[r].slot, k = step[static_cast<size_t>(s)]++;
          std::copy_n(out.begin() + static_cast<int64_t>(r) * V, V, logits.begin() + (s * kSteps + k) * V);
        }
      }
      return logits;
    };
    auto prefill_all = [&] {
      std::vector<float> logits(static_cast<size_t>(kSeqs * kSteps * V));
      Engine eng = make_engine();
      for (int64_t s0 = 0; s0 < kSeqs; s0 += 2) {
        std::vector<TokenInput> batch;
        for (int64_t s = s0; s < s0 + 2; ++s)
          for (int64_t p = 0; p < kLen; ++p) batch.push_back({.slot = s, .token = token(s, p), .pos = p});
        auto n = eng.forward(batch, LogitsFor::kAll, out.data());
        EXPECT_TRUE(n.ok()) << n.status().to_string();
        for (int64_t s = s0; s < s0 + 2; ++s)
          std::copy_n(out.begin() + ((s - s0) * kLen + kPrompt) * V, kSteps * V, logits.begin() + s * kSteps * V);
      }
      return logits;
    };
    const auto alone = decode_all(false), batched = decode_all(true), prefilled = prefill_all();
    for (int64_t s = 0; s < kSeqs; ++s) {
      for (int64_t k = 0; k < kSteps; ++k) {
        const float* a = alone.data() + (s * kSteps + k) * V;
        const auto bytes = static_cast<size_t>(V) * sizeof(float);
        EXPECT_EQ(std::memcmp(a, batched.data() + (s * kSteps + k) * V, bytes), 0)
            << "sequence " << s << " decode step " << k << ": batched";
        EXPECT_EQ(std::memcmp(a, prefilled.data() + (s * kSteps + k) * V, bytes), 0)
            << "sequence " << s << " decode step " << k << ": in a prefill chunk";
      }
    }
  }
}

// Runs body() at 1, 2 and 3 OpenMP threads (different work splits), restoring the thread count.
template <typename Body>
void at_thread_counts(Body body) {
  const int saved = omp_get_max_threads();
  for (int n_threads : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << n_threads << " threads");
    omp_set_num_threads(n_threads);
    body();
  }
  omp_set_num_threads(saved);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// q/k/v-like sets (one input, outputs side by side in one row at stride sum + pad) against one packed_linear
// call per linear: LLaMA 15M's q/k/v, GQA's narrow k/v, unequal widths with tails, and tiny ones.
TEST(PackedLinears, EqualSeparateCalls) {
  const std::vector<std::vector<Shape>> sets = {{{288, 288}, {288, 288}, {288, 288}},
                                                {{288, 288}, {288, 96}, {288, 96}},
                                                {{300, 37}, {300, 1000}, {300, 5}},
                                                {{17, 3}, {17, 40}}};
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (const auto& set : sets) {
      const int64_t in = set[0].in;
      std::vector<std::unique_ptr<Layer>> layers;
      int64_t width = 0;
      for (size_t j = 0; j < set.size(); ++j) {
        layers.push_back(std::make_unique<Layer>(set[j], layout, j != 1, 20 + j));
        width += set[j].out;
      }
      const int64_t ldo = width + kOutPadCols;
      for (const int64_t N : kRowCounts) {
        SCOPED_TRACE(testing::Message() << layout_name(layout) << " in=" << in << " outputs=" << width << " N=" << N);
        const auto x = inputs(N, in, 30 + static_cast<uint64_t>(N));
        at_thread_counts([&] {
          std::vector<float> want(static_cast<size_t>(N * ldo), kOutPad), got = want;
          std::vector<LinearOutput> outs;
          int64_t col = 0;
          for (const auto& l : layers) {
            packed_linear(l->packed, want.data() + col, ldo, x.data(), in + kInPad, N);
            outs.push_back({.lin = &l->packed, .out = got.data() + col, .ldo = ldo});
            col += l->lin.out;
          }
          packed_linears(outs, x.data(), in + kInPad, N);
          EXPECT_TRUE(same_bits(got, want));
        });
      }
    }
  }
}

// x += inp W (+ b) in one call, against packed_linear into a buffer then ops::add.
TEST(PackedLinearAdd, EqualsLinearThenAdd) {
  for (auto layout : {model::WeightLayout::kOutIn, model::WeightLayout::kInOut}) {
    for (const Shape s : {Shape{288, 288}, Shape{768, 291}, Shape{300, 1000}, Shape{31, 129}}) {
      const Layer layer(s, layout, true, 40);
      const int64_t ldx = s.out + kOutPadCols;
      for (const int64_t N : kRowCounts) {
        SCOPED_TRACE(testing::Message() << layout_name(layout) << " in=" << s.in << " out=" << s.out << " N=" << N);
        const auto inp = inputs(N, s.in, 50 + static_cast<uint64_t>(N));
        auto x0 = normals(N * ldx, 60 + static_cast<uint64_t>(N));
        for (int64_t n = 0; n < N; ++n) std::fill_n(x0.begin() + n * ldx + s.out, kOutPadCols, kOutPad);
        at_thread_counts([&] {
          std::vector<float> want = x0, got = x0, y(static_cast<size_t>(N * s.out));
          packed_linear(layer.packed, y.data(), s.out, inp.data(), s.in + kInPad, N);
          for (int64_t n = 0; n < N; ++n)
            ops::add(want.data() + n * ldx, want.data() + n * ldx, y.data() + n * s.out, s.out);
          packed_linear_add(layer.packed, got.data(), ldx, inp.data(), s.in + kInPad, N);
          EXPECT_TRUE(same_bits(got, want));
        });
      }
    }
  }
}

// The fused SwiGLU MLP against its unfused sequence (packed_linear gate and up, ops::swiglu_forward,
// packed_linear down, ops::add): act and x bit-identical, act's row padding untouched. LLaMA 15M's shape,
// one whose d_ff ends in a partial panel (of kPanelCols = 48) and a lane tail, and a tiny serial one.
TEST(PackedSwigluMlp, EqualsUnfusedSequence) {
#if defined(ANVIL_WANT_PORTABLE_LINEAR)
  GTEST_SKIP() << "the portable fused SwiGLU takes its exp from simd.h's portable version, the unfused "
                  "ops::swiglu_forward of this (AVX-512) build from the AVX-512 one: not the same bits here, "
                  "though they are within one portable build";
#endif
  struct MlpShape {
    int64_t C, F;
  };
  for (const MlpShape s : {MlpShape{288, 768}, MlpShape{200, 1003}, MlpShape{48, 88}}) {
    for (bool bias : {false, true}) {
      const auto oi = model::WeightLayout::kOutIn;
      const Layer gate({s.C, s.F}, oi, bias, 70), up({s.C, s.F}, oi, bias, 72), down({s.F, s.C}, oi, bias, 74);
      const int64_t lda = s.F + kOutPadCols, ldx = s.C + kOutPadCols;
      for (const int64_t N : kRowCounts) {
        SCOPED_TRACE(testing::Message() << "C=" << s.C << " F=" << s.F << " bias=" << bias << " N=" << N);
        const auto ln = inputs(N, s.C, 80 + static_cast<uint64_t>(N));
        auto x0 = normals(N * ldx, 90 + static_cast<uint64_t>(N));
        at_thread_counts([&] {
          std::vector<float> g(static_cast<size_t>(N * s.F)), u = g, p(static_cast<size_t>(N * s.C));
          std::vector<float> act_want(static_cast<size_t>(N * lda), kOutPad), act_got = act_want;
          std::vector<float> x_want = x0, x_got = x0;
          packed_linear(gate.packed, g.data(), s.F, ln.data(), s.C + kInPad, N);
          packed_linear(up.packed, u.data(), s.F, ln.data(), s.C + kInPad, N);
          for (int64_t n = 0; n < N; ++n)
            ops::swiglu_forward(act_want.data() + n * lda, g.data() + n * s.F, u.data() + n * s.F, s.F);
          packed_linear(down.packed, p.data(), s.C, act_want.data(), lda, N);
          for (int64_t n = 0; n < N; ++n)
            ops::add(x_want.data() + n * ldx, x_want.data() + n * ldx, p.data() + n * s.C, s.C);
          const MlpRows rows{.inp = ln.data(), .ldi = s.C + kInPad, .act = act_got.data(), .lda = lda,
                             .x = x_got.data(), .ldx = ldx, .N = N};
          packed_swiglu_mlp({.gate = gate.packed, .up = up.packed, .down = down.packed, .rows = rows});
          EXPECT_TRUE(same_bits(act_got, act_want));
          EXPECT_TRUE(same_bits(x_got, x_want));
        });
      }
    }
  }
}

// The fused GELU MLP (GPT-2's) against its unfused sequence (packed_linear up, ops::gelu_forward,
// packed_linear_add down), both approximations: act and x bit-identical, act's row padding untouched.
// GPT-2 S's shape, one whose d_ff ends in a partial panel and a lane tail, and a tiny serial one. Both
// sides take GELU from the kernels library, so the portable build compares the same bits too.
TEST(PackedGeluMlp, EqualsUnfusedSequence) {
  struct MlpShape {
    int64_t C, F;
  };
  for (const MlpShape s : {MlpShape{256, 1024}, MlpShape{200, 1003}, MlpShape{48, 88}}) {
    for (const GeluApprox approx : {GeluApprox::kTanh, GeluApprox::kErf}) {
      const auto oi = model::WeightLayout::kOutIn;
      const Layer up({s.C, s.F}, oi, true, 76), down({s.F, s.C}, oi, true, 78);
      const int64_t lda = s.F + kOutPadCols, ldx = s.C + kOutPadCols;
      for (const int64_t N : kRowCounts) {
        SCOPED_TRACE(testing::Message() << "C=" << s.C << " F=" << s.F << " erf=" << (approx == GeluApprox::kErf)
                                        << " N=" << N);
        const auto ln = inputs(N, s.C, 84 + static_cast<uint64_t>(N));
        auto x0 = normals(N * ldx, 94 + static_cast<uint64_t>(N));
        at_thread_counts([&] {
          std::vector<float> h(static_cast<size_t>(N * s.F));
          std::vector<float> act_want(static_cast<size_t>(N * lda), kOutPad), act_got = act_want;
          std::vector<float> x_want = x0, x_got = x0;
          packed_linear(up.packed, h.data(), s.F, ln.data(), s.C + kInPad, N);
          for (int64_t n = 0; n < N; ++n)
            ops::gelu_forward(act_want.data() + n * lda, h.data() + n * s.F, s.F, approx);
          packed_linear_add(down.packed, x_want.data(), ldx, act_want.data(), lda, N);
          const MlpRows rows{.inp = ln.data(), .ldi = s.C + kInPad, .act = act_got.data(), .lda = lda,
                             .x = x_got.data(), .ldx = ldx, .N = N};
          packed_gelu_mlp({.up = up.packed, .down = down.packed, .approx = approx, .rows = rows});
          EXPECT_TRUE(same_bits(act_got, act_want));
          EXPECT_TRUE(same_bits(x_got, x_want));
        });
      }
    }
  }
}

}  // namespace
}  // namespace anvil::infer
