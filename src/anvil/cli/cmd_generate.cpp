// `anvil generate`: load a model directory (+ tokenizer.json) and stream a completion of --prompt to
// stdout; tokens/s and time to first token go to stderr at the end. Parsing and printing only; the
// work is in infer/ (Generator).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "anvil/cli/command.h"
#include "anvil/infer/generator.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::cli {
namespace {

struct GenerateArgs {
  std::string model_dir, tokenizer, prompt;
  std::optional<uint64_t> seed;
  int64_t max_seq = 0;
  DType kv_dtype = DType::kF16;
  infer::SamplingOptions sampling;
};

int run_generate(const GlobalOptions& g, GenerateArgs& a) {
  make_cli_context(g);
  std::string tok_path = a.tokenizer;
  if (tok_path.empty()) {
    tok_path = (std::filesystem::path(a.model_dir) / "tokenizer.json").string();
    if (!std::filesystem::exists(tok_path)) {
      std::fprintf(stderr, "anvil generate: no --tokenizer given and '%s' does not exist\n", tok_path.c_str());
      return 2;
    }
  }
  auto tok = tok::load_tokenizer_json(tok_path);
  if (!tok.ok()) return report_failure("generate", tok.status());
  auto model = model::Transformer::load_mapped(a.model_dir);  // the engine packs straight from the file
  if (!model.ok()) return report_failure("generate", model.status());
  auto gen = infer::Generator::create(std::move(*model), std::move(*tok), {.max_seq = a.max_seq, .kv_dtype = a.kv_dtype});
  if (!gen.ok()) return report_failure("generate", gen.status());
  a.sampling.seed = a.seed.value_or(g.seed);
  auto r = gen->generate(a.prompt, a.sampling, [](const infer::TokenEvent& e) {
    if (!e.text.empty()) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
    }
  });
  if (!r.ok()) return report_failure("generate", r.status());
  std::printf("\n");
  const double tps = r->decode_ms_per_token > 0 ? 1000.0 / r->decode_ms_per_token : 0.0;
  std::fprintf(stderr, "[generate] %ld prompt tokens, %ld generated (finish: %s); TTFT %.1f ms; decode %.2f ms/token = %.1f tokens/s\n",
               r->n_prompt_tokens, r->n_tokens, infer::finish_reason_name(r->finish), r->ttft_ms,
               r->decode_ms_per_token, tps);
  return 0;
}

}  // namespace

Command register_generate(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand(
      "generate",
      "Stream a completion of --prompt from a model directory (config.json + model.safetensors, as written by "
      "`anvil model init` or training) to stdout. Sampling: greedy with --temperature 0, else temperature, top-k, "
      "top-p, repetition/frequency/presence penalties, seeded. Stops at --max-tokens, a --stop string (not "
      "printed) or the tokenizer's end-of-text token. Prints TTFT and decode tokens/s to stderr. docs/infer.md.");
  auto a = std::make_shared<GenerateArgs>();
  infer::SamplingOptions& s = a->sampling;
  c.app->add_option("--model", a->model_dir, "model directory")->required();
  c.app->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  c.app->add_option("--prompt", a->prompt, "prompt text")->required();
  c.app->add_option("--max-tokens", s.max_tokens, "tokens to generate at most")->capture_default_str();
  c.app->add_option("--temperature", s.temperature, "0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  c.app->add_option("--top-k", s.top_k, "keep the k most likely tokens (0 = off)")->capture_default_str()->check(CLI::NonNegativeNumber);
  c.app->add_option("--top-p", s.top_p, "nucleus mass in (0, 1] (1 = off)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  c.app->add_option("--repetition-penalty", s.repetition_penalty, "HF/CTRL penalty over prompt + output (1 = off)")
      ->capture_default_str();
  c.app->add_option("--frequency-penalty", s.frequency_penalty, "OpenAI frequency penalty")->capture_default_str();
  c.app->add_option("--presence-penalty", s.presence_penalty, "OpenAI presence penalty")->capture_default_str();
  c.app->add_option("--seed", a->seed, "sampling seed (default: the global --seed)");
  c.app->add_option("--stop", s.stop, "stop string (repeatable); not printed");
  c.app->add_flag("--ignore-eos", s.ignore_eos, "keep going past the end-of-text token");
  c.app->add_option("--max-seq", a->max_seq, "context (prompt + completion) in tokens; 0 = the model's")
      ->capture_default_str();
  add_kv_cache_option(c.app, &a->kv_dtype);
  c.run = [&g, a]() -> int { return run_generate(g, *a); };
  return c;
}

}  // namespace anvil::cli
