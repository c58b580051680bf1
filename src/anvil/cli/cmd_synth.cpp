// `anvil synth`: writes built-in verifiable reasoning tasks (arithmetic, word problems, ordering
// puzzles) as JSONL documents (docs/data.md §synthetic), or GSM8K-style {question, answer "… #### X"}.
#include <cstdio>

#include "anvil/base/file.h"
#include "anvil/cli/command.h"
#include "anvil/data/synth.h"

namespace anvil::cli {
namespace {

struct SynthArgs {
  std::string task = "mix", style = "cot", split = "train", format = "docs", out;
  size_t n = 1000;
  int difficulty = 2;
  uint64_t seed = 1;
  bool unique = false;
};

Status run_synth(const SynthArgs& a) {
  using namespace anvil::data;
  ANVIL_ASSIGN_OR_RETURN(TaskKind kind, parse_task_kind(a.task));
  ANVIL_ASSIGN_OR_RETURN(Style style, parse_style(a.style));
  ANVIL_ASSIGN_OR_RETURN(Split split, parse_split(a.split));
  if (a.format != "docs" && a.format != "gsm8k" && a.format != "text") {
    return invalid_argument("[synth] unknown --format '{}' (expected docs|gsm8k|text)", a.format);
  }
  const SynthOptions opt{.kind = kind, .difficulty = a.difficulty, .seed = a.seed, .split = split,
                         .style = style, .unique = a.unique};
  ANVIL_ASSIGN_OR_RETURN(std::vector<Task> tasks, generate(opt, a.n));
  const bool to_stdout = a.out == "-";
  AtomicFileWriter w;
  if (!to_stdout) ANVIL_RETURN_IF_ERROR(w.open(a.out));
  std::string line;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& t = tasks[i];
    const std::string id = fmt::format("synth-{}-d{}-s{}-{}-{}", task_kind_name(t.kind), t.difficulty, a.seed,
                                       split_name(split), i);
    if (a.format == "docs") {
      line = task_to_json(t, id, split).dump();
    } else if (a.format == "text") {
      // Plain text, one document per blank-line-separated block (task texts hold no blank line).
      line = task_to_json(t, id, split)["text"].get<std::string>();
      while (!line.empty() && line.back() == '\n') line.pop_back();
      line += '\n';
    } else {
      // GSM8K layout: the reasoning lines, then "#### answer".
      std::string reasoning;
      const size_t open = t.completion.find("<think>\n"), close = t.completion.find("</think>");
      if (open != std::string::npos && close != std::string::npos) {
        reasoning = t.completion.substr(open + 8, close - open - 8);
      }
      line = nlohmann::json{{"question", t.question}, {"answer", reasoning + "#### " + t.answer}}.dump();
    }
    line += '\n';
    if (to_stdout) {
      std::fwrite(line.data(), 1, line.size(), stdout);
    } else {
      ANVIL_RETURN_IF_ERROR(w.write(line.data(), line.size()));
    }
  }
  if (to_stdout) {
    if (std::fflush(stdout) != 0) return io_error("[synth] writing to standard output failed");
  } else {
    ANVIL_RETURN_IF_ERROR(w.commit());
  }
  std::fprintf(stderr, "anvil synth: wrote %zu %s tasks (%s, difficulty %d, seed %llu, %s split) to %s\n",
               tasks.size(), a.task.c_str(), a.style.c_str(), a.difficulty, static_cast<unsigned long long>(a.seed),
               a.split.c_str(), a.out.c_str());
  return ok_status();
}

}  // namespace

Command register_synth(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<SynthArgs>();
  Command c;
  c.app = app.add_subcommand(
      "synth",
      "Generate verifiable reasoning tasks as JSONL.\n"
      "Each document is {\"id\",\"text\",\"source\":\"synthetic\",\"prompt\",\"answer\",\"meta\":{task,answer,"
      "difficulty,style,split}}.\n"
      "CoT text: \"Question: Q\\n<think>\\nsteps\\n</think>\\nAnswer: X\\n\"; direct: \"Question: Q\\nAnswer: X\\n\".\n"
      "Same options and seed give the same file; train and eval splits never share a question.");
  c.app->add_option("--task", args->task, "arithmetic|word|logic|mix")
      ->check(CLI::IsMember({"arithmetic", "word", "logic", "mix"}))
      ->capture_default_str();
  c.app->add_option("--n", args->n, "number of tasks")->capture_default_str();
  c.app->add_option("--difficulty", args->difficulty, "1..8: digits/steps (arithmetic), steps (word), people (logic)")
      ->check(CLI::Range(data::kMinDifficulty, data::kMaxDifficulty))
      ->capture_default_str();
  c.app->add_option("--seed", args->seed, "generator seed")->capture_default_str();
  c.app->add_option("--style", args->style, "cot (reasoning in <think>) or direct (answer only)")
      ->check(CLI::IsMember({"cot", "direct"}))
      ->capture_default_str();
  c.app->add_option("--split", args->split, "train|eval|all (1 question in 8, by hash, is eval)")
      ->check(CLI::IsMember({"train", "eval", "all"}))
      ->capture_default_str();
  c.app->add_option("--format", args->format,
                    "docs (anvil JSONL documents), gsm8k (question/answer ####) or text (plain text, a blank line "
                    "between tasks: input for `anvil tokenizer train`)")
      ->check(CLI::IsMember({"docs", "gsm8k", "text"}))
      ->capture_default_str();
  c.app->add_flag("--unique", args->unique, "never repeat a question within the file");
  c.app->add_option("--out", args->out, "output file, written atomically; - = standard output")->required();
  c.run = [args] {
    const Status s = run_synth(*args);
    if (s.ok()) return 0;
    return report_failure("synth", s);
  };
  return c;
}

}  // namespace anvil::cli
