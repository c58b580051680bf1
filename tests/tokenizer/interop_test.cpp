// Interop with the ecosystem's tokenizers, run through node (clients installed by
// scripts/npm_test_deps.sh into tests/node/node_modules): GPT-2's vocabulary imported into anvil
// encodes real text (Debian's fortunes packages: English, German, Chinese) token for token like
// js-tiktoken and gpt-3-encoder, and a tokenizer.json trained by anvil loads in Hugging Face
// tokenizers (node binding) and encodes identically. Skips with a reason when a client is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/tokenizer/formats.h"
#include "anvil/tokenizer/trainer.h"

namespace anvil::tok {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr size_t kMinCorpusBytes = 2'000'000;   // "several MB of real text"
constexpr size_t kDocStride = 3;                 // every 3rd fortune: ~3 MB of the ~9.4 MB installed
constexpr size_t kGpt3EncoderBytes = 300'000;   // gpt-3-encoder runs at ~0.1 MB/s
const char* kCorpusDir = "/usr/share/games/fortunes";

const std::string kSource = ANVIL_SOURCE_DIR;
const std::string kModules = kSource + "/tests/node/node_modules";
const std::string kScript = kSource + "/tests/tokenizer/interop/encode.js";

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += decode_utf8(p, i, s.size(), cp);
    if (cp == 0xFFFFFFFFu) return false;
  }
  return true;
}

// Fortunes (one document each) from every text file of the fortunes packages, in path order.
std::vector<std::string> load_corpus() {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(kCorpusDir, ec); !ec && it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && !it->is_symlink() && it->path().extension() != ".dat") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> docs;
  size_t n_seen = 0;
  for (const fs::path& f : files) {
    auto text = read_file(f.string());
    if (!text.ok()) continue;
    size_t i = 0;
    while (i < text->size()) {
      size_t e = text->find("\n%\n", i);
      if (e == std::string::npos) e = text->size();
      std::string doc = text->substr(i, e - i + 1);
      if (valid_utf8(doc) && doc.find("<|endoftext|>") == std::string::npos && n_seen++ % kDocStride == 0)
        docs.push_back(std::move(doc));
      i = e + 3;
    }
  }
  return docs;
}

class Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModules)) GTEST_SKIP() << "npm clients not installed: run scripts/npm_test_deps.sh";
    if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not on PATH";
    docs_ = load_corpus();
    size_t bytes = 0;
    for (const auto& d : docs_) bytes += d.size();
    if (bytes < kMinCorpusBytes)
      GTEST_SKIP() << "need the Debian fortunes packages in " << kCorpusDir << " (scripts/setup.sh); found " << bytes << " bytes";
    n_bytes_ = bytes;
    dir_ = fs::temp_directory_path() / ("anvil_tok_interop_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Runs a node client over docs; returns its ids per document.
  std::vector<std::vector<uint32_t>> run_node(const std::string& client, const std::vector<std::string>& docs,
                                              const std::string& tokenizer_json = "") {
    const std::string in = (dir_ / "docs.json").string(), out = (dir_ / "out.json").string();
    EXPECT_TRUE(write_file_atomic(in, json(docs).dump()).ok());
    const std::string cmd = "NODE_MODULES='" + kModules + "' node '" + kScript + "' " + client + " '" + in + "' '" + out +
                            "' '" + tokenizer_json + "'";
    const int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << cmd;
    auto text = read_file(out);
    if (rc != 0 || !text.ok()) return {};
    return json::parse(*text).get<std::vector<std::vector<uint32_t>>>();
  }
  // Compares anvil against a client document by document; reports the first difference.
  void compare(const Tokenizer& t, const std::vector<std::string>& docs, const std::vector<std::vector<uint32_t>>& ref,
               SpecialMode mode, const std::string& client) {
    ASSERT_EQ(ref.size(), docs.size()) << client;
    size_t n_diff = 0, n_tokens = 0;
    for (size_t d = 0; d < docs.size(); ++d) {
      const auto ids = t.encode(docs[d], {.special = mode});
      n_tokens += ids.size();
      if (ids == ref[d]) continue;
      if (n_diff++ == 0) {
        size_t k = 0;
        while (k < ids.size() && k < ref[d].size() && ids[k] == ref[d][k]) ++k;
        ADD_FAILURE() << client << ": document " << d << " differs at token " << k << ": '" << docs[d].substr(0, 200) << "'";
      }
    }
    EXPECT_EQ(n_diff, 0u) << client << ": " << n_diff << " of " << docs.size() << " documents differ";
    std::printf("[interop] %s: %zu documents, %zu tokens identical=%s\n", client.c_str(), docs.size(), n_tokens,
                n_diff ? "no" : "yes");
  }

  std::vector<std::string> docs_;
  size_t n_bytes_ = 0;
  fs::path dir_;
};

Result<Tokenizer> gpt2() {
  return import_gpt2(kModules + "/gpt-3-encoder/encoder.json", kModules + "/gpt-3-encoder/vocab.bpe");
}

TEST_F(Interop, Gpt2MatchesJsTiktoken) {
  auto t = gpt2();
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->vocab_size(), 50257u);
  std::printf("[interop] corpus: %zu documents, %zu bytes\n", docs_.size(), n_bytes_);
  compare(*t, docs_, run_node("js-tiktoken-gpt2", docs_), SpecialMode::kAsText, "js-tiktoken gpt2");
}

TEST_F(Interop, Gpt2MatchesGpt3Encoder) {
  auto t = gpt2();
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<std::string> sample;
  size_t bytes = 0;
  for (size_t d = 0; d < docs_.size() && bytes < kGpt3EncoderBytes; d += 5) {
    sample.push_back(docs_[d]);
    bytes += docs_[d].size();
  }
  compare(*t, sample, run_node("gpt-3-encoder", sample), SpecialMode::kAsText, "gpt-3-encoder");
}

TEST_F(Interop, HuggingFaceLoadsAnvilTokenizer) {
  std::vector<std::string> docs = docs_;
  docs.push_back("a chat turn<|endoftext|><think>reasoning</think> answer 12345");
  struct Variant { PreTokenizerConfig pre; MergesForm form; const char* name; };
  for (const Variant& v : {Variant{{Pattern::kGpt2, DigitSplit::kNone}, MergesForm::kPairs, "gpt2 regex, pair merges"},
                           Variant{{Pattern::kCl100k, DigitSplit::kIndividual}, MergesForm::kStrings,
                                   "cl100k regex + digits, string merges"}}) {
    TrainerConfig cfg{.vocab_size = 8000, .special_tokens = {"<|endoftext|>", "<think>", "</think>"},
                      .pretokenizer = v.pre, .n_threads = 2};
    WordCounter words;
    for (const auto& d : docs_) count_words_in_text(d, cfg.pretokenizer, words);
    auto parts = train_bpe(words, cfg);
    ASSERT_TRUE(parts.ok()) << parts.status().to_string();
    auto t = Tokenizer::create(std::move(parts).value());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    const std::string path = (dir_ / "anvil_tokenizer.json").string();
    ASSERT_TRUE(save_tokenizer_json(*t, path, v.form).ok());
    compare(*t, docs, run_node("hf", docs, path), SpecialMode::kAllow, std::string("HF tokenizers, ") + v.name);
  }
}

TEST_F(Interop, AnvilLoadsHuggingFaceTrainedTokenizer) {
  // HF's node binding trains without an initial alphabet, so bytes absent from the corpus have no
  // token: anvil loads the file with MissingBytes::kDrop and drops them as HF does.
  std::string corpus;
  for (const auto& d : docs_) corpus += d;
  const std::string corpus_path = (dir_ / "corpus.txt").string(), path = (dir_ / "hf_tokenizer.json").string();
  ASSERT_TRUE(write_file_atomic(corpus_path, corpus).ok());
  const std::string cmd = "NODE_MODULES='" + kModules + "' node '" + kScript + "' hf-train '" + corpus_path + "' '" + path + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto strict = load_tokenizer_json(path);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.status().message().find("has no token"), std::string::npos) << strict.status().message();
  auto t = load_tokenizer_json(path, MissingBytes::kDrop);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<std::string> docs = docs_;
  docs.push_back(std::string("control\x01 and \x02" "char"));  // bytes the HF vocab lacks
  compare(*t, docs, run_node("hf", docs, path), SpecialMode::kAsText, "anvil loading HF-trained tokenizer.json");
}

}  // namespace
}  // namespace anvil::tok
