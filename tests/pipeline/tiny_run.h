// Test helpers for tests/pipeline: a tiny `anvil run` config (a few hundred synthetic problems, a
// 300-token tokenizer, a one-layer model trained for a few dozen steps) so a whole run takes seconds.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "anvil/base/context.h"
#include "support/temp_dir.h"

namespace anvil::pipeline::testing {

namespace fs = std::filesystem;

inline fs::path temp_dir(const std::string& name) {
  return test::fresh_temp_dir(name);
}

inline void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

inline constexpr int kTinyVocab = 300;

// A one-layer LLaMA-style config.json with the tiny vocabulary.
inline std::string tiny_model_json() {
  return R"({"model_type": "llama", "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
  "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": true,
  "attention_bias": false, "mlp_bias": false, "initializer_range": 0.02})";
}

// The config text of a tiny run in `dir` (run dir dir/run, a model config and a text input written there).
inline std::string tiny_config(const fs::path& dir, int steps = 20, const std::string& extra = "") {
  write_text(dir / "model.json", tiny_model_json());
  write_text(dir / "notes.txt", "The first note says the cat sat on the mat.\n%\nA second note, about the dog.\n%\n"
                                "Third: numbers like 12 and 34 appear here.\n");
  return "[run]\ndir = \"" + (dir / "run").string() + "\"\nseed = 7\n\n"
         "[[synth]]\ntask = \"arithmetic\"\ndifficulty = 1\nn = 300\nstyle = \"cot\"\nseed = 1\n\n"
         "[[synth]]\ntask = \"arithmetic\"\ndifficulty = 1\nn = 100\nstyle = \"direct\"\nseed = 2\n\n"
         "[[input]]\npath = \"" + (dir / "notes.txt").string() + "\"\nsplit_on = \"%\"\ngroup = \"general\"\n"
         "quality = false\n\n"
         "[prep.dedup]\nexact = false\n\n"
         "[mix.shares]\ngeneral = 0.01\nsynthetic = 0.99\n\n"
         "[tokenizer]\nvocab_size = 300\nspecials = [\"<|endoftext|>\"]\n\n"
         "[tokenize]\nval_fraction = 0.1\n\n"
         "[train.model]\nconfig = \"" + (dir / "model.json").string() + "\"\n"
         "[train.data]\ncontext = 32\nbatch_size = 4\n"
         "[train.optim]\nlr = 1e-2\n"
         "[train.schedule]\nsteps = " + std::to_string(steps) + "\nwarmup = 0.1\n"
         "[train.log]\nval_every = 10\nval_batches = 2\n"
         "[train.checkpoint]\nevery = 10\nkeep_last = 2\n\n"
         "[eval]\ntasks = [\"synth:arithmetic\"]\nstyles = [\"cot\", \"direct\"]\nsynth_difficulty = 1\nlimit = 3\n"
         "max_new_tokens = 24\nmax_new_tokens_direct = 6\nspeed = false\n" + extra;
}

inline Context quiet_context() { return make_context(0, 1337, "warn"); }

}  // namespace anvil::pipeline::testing
