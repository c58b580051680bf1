// `anvil eval`: perplexity, multiple-choice benchmarks, generative tasks and speed of a checkpoint, as a
// summary table, eval_report.json and a self-contained eval_report.html; `anvil eval compare A.json
// B.json` prints two reports side by side with deltas. Parsing and printing only; the work is in eval/.
#include <cstdio>
#include <sstream>

#include "anvil/cli/command.h"
#include "anvil/eval/report.h"
#include "anvil/eval/runner.h"

namespace anvil::cli {
namespace {

struct EvalArgs {
  eval::EvalConfig cfg;
  std::vector<std::string> task_lists;
  std::string out = "eval_out", precision = "fp32", mc_scoring = "both", synth_style = "cot", engine = "auto";
  bool no_speed = false, quiet = false;
  std::string compare_a, compare_b;
};

std::vector<std::string> split_commas(const std::vector<std::string>& lists) {
  std::vector<std::string> out;
  for (const std::string& l : lists) {
    std::stringstream ss(l);
    for (std::string item; std::getline(ss, item, ',');) {
      if (!item.empty()) out.push_back(item);
    }
  }
  return out;
}

int run_eval_cmd(EvalArgs& a, const GlobalOptions& g) {
  if (a.cfg.model_dir.empty() || a.task_lists.empty()) {
    std::fprintf(stderr, "anvil eval: --model and --tasks are required\nRun 'anvil eval --help' for usage.\n");
    return 2;
  }
  a.cfg.tasks = split_commas(a.task_lists);
  for (const std::string& t : a.cfg.tasks) {
    if (auto s = eval::parse_task_spec(t); !s.ok()) {
      std::fprintf(stderr, "anvil eval: %s\nRun 'anvil eval --help' for usage.\n", s.status().message().c_str());
      return 2;
    }
  }
  make_cli_context(g);
  a.cfg.precision = a.precision == "bf16" ? Precision::kBF16 : Precision::kF32;
  a.cfg.mc_scoring = a.mc_scoring == "letters" ? eval::McScoring::kLetters : eval::McScoring::kBoth;
  a.cfg.synth_style = a.synth_style == "direct" ? data::Style::kDirect : data::Style::kCot;
  a.cfg.engine = a.engine == "kv" ? eval::GenEngine::kKvCache
                 : a.engine == "recompute" ? eval::GenEngine::kRecompute : eval::GenEngine::kAuto;
  a.cfg.speed = !a.no_speed;
  a.cfg.progress = !a.quiet;
  auto report = eval::run_eval(a.cfg, a.quiet ? nullptr : stderr);
  if (!report.ok()) return report_failure("eval", report.status());
  const Status w = eval::write_report(*report, a.out);
  if (!w.ok()) return report_failure("eval", w);
  std::printf("%s", eval::summary_table(*report).c_str());
  std::printf("\nreport: %s/eval_report.json, %s/eval_report.html\n", a.out.c_str(), a.out.c_str());
  return 0;
}

int run_compare(const EvalArgs& a) {
  auto ra = eval::load_report(a.compare_a);
  if (!ra.ok()) return report_failure("eval compare", ra.status());
  auto rb = eval::load_report(a.compare_b);
  if (!rb.ok()) return report_failure("eval compare", rb.status());
  std::printf("%s", eval::compare_reports(*ra, *rb, a.compare_a, a.compare_b).c_str());
  return 0;
}

}  // namespace

Command register_eval(CLI::App& app, const GlobalOptions& g) {
  auto a = std::make_shared<EvalArgs>();
  Command c;
  c.app = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint: perplexity / bits-per-byte, multiple-choice benchmarks (MMLU, C-Eval, JSONL) by\n"
      "log-likelihood as lm-evaluation-harness scores them, generative tasks (GSM8K, synthetic reasoning) by\n"
      "exact match, and speed. Prints a summary table; writes OUT/eval_report.json and OUT/eval_report.html.\n"
      "Tasks (comma-separated or repeated --tasks):\n"
      "  ppl:PATH            token shard (by magic) or text: .jsonl[.zst] {\"text\"} documents, else one document\n"
      "  mmlu:DIR[@split]    MMLU CSV layout DIR/{dev,test}/<subject>_<split>.csv (default split test)\n"
      "  ceval:DIR[@split]   C-Eval CSV layout DIR/{dev,val,test}/<subject>_<split>.csv (default split val)\n"
      "  mcjsonl:FILE        {\"question\",\"choices\":[..],\"answer\":index|letter,\"subject\"?,\"split\"?:\"dev\"}\n"
      "  gsm8k:FILE[@SHOTS]  {\"question\",\"answer\":\"... #### N\"}, greedy, strict and flexible exact match;\n"
      "                      shots from SHOTS, else train.jsonl beside FILE, else FILE's other items\n"
      "  synth:KIND          built-in verifiable tasks: arithmetic|word|logic|mix (eval split)\n"
      "Compare two reports: anvil eval compare A/eval_report.json B/eval_report.json\n"
      "Details: docs/eval.md");
  c.app->add_option("--model", a->cfg.model_dir, "model directory (config.json + model.safetensors)");
  c.app->add_option("--tokenizer", a->cfg.tokenizer_path, "tokenizer.json (default MODEL/tokenizer.json)");
  c.app->add_option("--tasks", a->task_lists, "task specs, e.g. ppl:val.tok,mmlu:data/mmlu,synth:arithmetic");
  c.app->add_option("--out", a->out, "output directory for eval_report.json / .html")->capture_default_str();
  c.app->add_option("--shots", a->cfg.shots, "few-shot examples (MC: first k dev items; GSM8K: other items)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  c.app->add_option("--limit", a->cfg.limit, "items per subject (MC) / per task (generative), docs (ppl text); 0 = all "
                                             "(synth: 50)")
      ->capture_default_str();
  c.app->add_option("--precision", a->precision, "fp32|bf16 matmuls for scoring")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  c.app->add_option("--batch", a->cfg.max_batch, "rows per scoring forward; sequences generated at once")->check(CLI::PositiveNumber)->capture_default_str();
  c.app->add_option("--max-length", a->cfg.max_length, "context tokens per row (0 = the model's)")->capture_default_str();
  c.app->add_option("--ppl-window", a->cfg.ppl_window, "perplexity window in tokens (0 = max length)")->capture_default_str();
  c.app->add_option("--ppl-stride", a->cfg.ppl_stride, "targets per window (0 = window: disjoint)")->capture_default_str();
  c.app->add_option("--ppl-max-tokens", a->cfg.ppl_max_tokens, "shard tokens to evaluate (0 = all)")->capture_default_str();
  c.app->add_option("--mc-scoring", a->mc_scoring, "letters (acc) or both (+ full answer text: acc_norm, acc_text)")
      ->check(CLI::IsMember({"letters", "both"}))
      ->capture_default_str();
  c.app->add_option("--max-new-tokens", a->cfg.max_new_tokens, "generation limit per completion")->capture_default_str();
  c.app->add_option("--temperature", a->cfg.temperature, "0 = greedy")->capture_default_str();
  c.app->add_option("--samples", a->cfg.n_samples, "completions per problem (pass@k; needs temperature > 0)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c.app->add_option("--pass-k", a->cfg.pass_k, "k values for pass@k")->capture_default_str();
  c.app->add_option("--synth-difficulty", a->cfg.synth_difficulty, "1..8")->check(CLI::Range(1, 8))->capture_default_str();
  c.app->add_option("--synth-style", a->synth_style, "cot|direct")->check(CLI::IsMember({"cot", "direct"}))->capture_default_str();
  c.app->add_option("--gen-seed", a->cfg.seed, "seed of sampling and synthetic tasks")->capture_default_str();
  c.app->add_option("--engine", a->engine, "generation engine: auto (continuous batching of --batch sequences) | kv (one at a time) | recompute (no KV cache)")
      ->check(CLI::IsMember({"auto", "kv", "recompute"}))
      ->capture_default_str();
  c.app->add_flag("--no-speed", a->no_speed, "skip the speed measurement");
  c.app->add_option("--speed-prompt", a->cfg.speed_options.prompt_tokens, "speed: prompt tokens")->capture_default_str();
  c.app->add_option("--speed-new", a->cfg.speed_options.new_tokens, "speed: generated tokens")->capture_default_str();
  c.app->add_option("--speed-batch", a->cfg.speed_options.batch, "speed: batch size")->capture_default_str();
  c.app->add_option("--worst", a->cfg.n_worst, "worst-scored examples kept per task")->capture_default_str();
  c.app->add_flag("-q,--quiet", a->quiet, "no progress lines");
  CLI::App* cmp = c.app->add_subcommand("compare", "Show two eval_report.json files side by side with deltas (B − A).");
  cmp->add_option("A", a->compare_a, "first report")->required();
  cmp->add_option("B", a->compare_b, "second report")->required();
  c.run = [a, cmp, &g] { return cmp->parsed() ? run_compare(*a) : run_eval_cmd(*a, g); };
  return c;
}

}  // namespace anvil::cli
