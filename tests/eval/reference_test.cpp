// Cross-check of multiple-choice scoring against PyTorch: a tiny random model (GPT-2 and LLaMA style)
// scores the MMLU sample with 2 shots and both scoring variants; tests/eval/torch_ll.py recomputes every
// choice log-likelihood from the same config.json + model.safetensors and token ids with
// tools/torch_ref's independent forward, as lm-eval does (left truncation included: the LLaMA case has a
// context shorter than the prompts). fp32 within kRelTolerance. Skipped when /usr/bin/python3 lacks torch.
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/eval/mc.h"
#include "eval_test_util.h"

namespace anvil::eval {
namespace {

constexpr double kRelTolerance = 1e-4;
const std::string kExamples = std::string(ANVIL_SOURCE_DIR) + "/examples/eval";

bool torch_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return ok;
}

struct RefCase {
  const char* name;
  bool llama;
  int64_t max_seq;
};

class EvalReferenceTest : public ::testing::TestWithParam<RefCase> {};

TEST_P(EvalReferenceTest, ChoiceLogLikelihoodsMatchTorch) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  const RefCase& rc = GetParam();
  testing::TempDir dir(std::string("ref_") + rc.name);
  auto corpus = read_file(kExamples + "/mmlu/dev/astronomy_dev.csv");
  ASSERT_TRUE(corpus.ok());
  const tok::Tokenizer tk = testing::bpe_tokenizer(*corpus + *corpus, 400);
  const int64_t V = static_cast<int64_t>(tk.vocab_size());
  model::Transformer m = testing::tiny_model(rc.llama ? testing::llama_config(V, rc.max_seq) : testing::gpt2_config(V, rc.max_seq), 5);
  ASSERT_TRUE(m.save(dir.str()).ok());
  auto loaded = model::Transformer::load(dir.str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto lm = LmScorer::create(*loaded, tk, {.max_batch = 5});
  ASSERT_TRUE(lm.ok());
  auto ds = load_mmlu(kExamples + "/mmlu");
  ASSERT_TRUE(ds.ok());
  auto r = run_mc(*lm, *ds, {.shots = 2, .limit = 3});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // The same requests run_mc made, in its order.
  nlohmann::json reqs = nlohmann::json::array();
  std::vector<double> ours;
  int64_t n_truncated = 0;
  for (size_t i = 0; i < r->items.size(); ++i) {
    const McItemResult& it = r->items[i];
    const McItem& item = ds->subjects[i / 3].eval[i % 3];
    n_truncated += it.truncated;
    for (size_t c = 0; c < item.choices.size(); ++c) {
      const LlRequest letter = lm->encode_pair(it.prompt, std::string(" ") + static_cast<char>('A' + c));
      const LlRequest text = lm->encode_pair(it.prompt, " " + item.choices[c]);
      reqs.push_back({{"context", letter.context}, {"continuation", letter.continuation}});
      reqs.push_back({{"context", text.context}, {"continuation", text.continuation}});
      ours.push_back(it.ll_letter[c]);
      ours.push_back(it.ll_text[c]);
    }
  }
  if (rc.max_seq < 256) {
    EXPECT_GT(n_truncated, 0) << "the short-context case must exercise truncation";
  }
  const nlohmann::json request_file = {{"max_length", lm->max_length()}, {"requests", reqs}};
  ASSERT_TRUE(write_file_atomic(dir.str("req.json"), request_file.dump()).ok());
  const std::string cmd = std::string("/usr/bin/python3 ") + ANVIL_SOURCE_DIR + "/tests/eval/torch_ll.py --model " +
                          dir.str() + " --requests " + dir.str("req.json") + " --out " + dir.str("ll.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto text = read_file(dir.str("ll.json"));
  ASSERT_TRUE(text.ok());
  const auto ref = nlohmann::json::parse(*text);
  ASSERT_EQ(ref.size(), ours.size());
  double worst = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const double want = ref[i].get<double>();
    const double rel = std::fabs(ours[i] - want) / std::max(std::fabs(want), 1e-30);
    EXPECT_LE(rel, kRelTolerance) << "request " << i << ": anvil " << ours[i] << " torch " << want;
    worst = std::max(worst, rel);
  }
  std::printf("  [%s] %zu choice log-likelihoods, %lld truncated prompts, max rel error %.2e\n", rc.name, ours.size(),
              static_cast<long long>(n_truncated), worst);
}

INSTANTIATE_TEST_SUITE_P(Models, EvalReferenceTest,
                         ::testing::Values(RefCase{"gpt2", false, 512}, RefCase{"llama_short_context", true, 96}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anvil::eval
