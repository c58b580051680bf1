// `anvil chat`: an interactive conversation with a model directory. Reads one user message per line from
// stdin (a terminal or a pipe), renders the whole conversation with the model's ChatTemplate
// (chat_template.json, or the quickstart "Question: ...\n" layout), streams the reply to stdout (Generator)
// and keeps it in the history. /reset forgets the conversation, /quit (or end of input) leaves. When the
// conversation outgrows the context, the oldest turns are dropped. Parsing and printing only.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "anvil/cli/command.h"
#include "anvil/infer/chat_template.h"
#include "anvil/infer/generator.h"
#include "anvil/tokenizer/formats.h"

namespace anvil::cli {
namespace {

struct ChatArgs {
  std::string model_dir, tokenizer, system;
  std::optional<uint64_t> seed;
  int64_t max_seq = 0;
  DType kv_dtype = DType::kF16;
  bool stats = false;
  infer::SamplingOptions sampling{.temperature = 0.7f, .top_p = 0.95f, .max_tokens = 256};
};

constexpr const char* kHelp = "commands: /reset (forget the conversation), /quit (leave), /help";

int run_chat(const GlobalOptions& g, ChatArgs& a) {
  make_cli_context(g);
  std::string tok_path = a.tokenizer;
  if (tok_path.empty()) {
    tok_path = (std::filesystem::path(a.model_dir) / "tokenizer.json").string();
    if (!std::filesystem::exists(tok_path)) {
      std::fprintf(stderr, "anvil chat: no --tokenizer given and '%s' does not exist\n", tok_path.c_str());
      return 2;
    }
  }
  auto tmpl = infer::ChatTemplate::load(a.model_dir);
  if (!tmpl.ok()) return report_failure("chat", tmpl.status());
  auto tok = tok::load_tokenizer_json(tok_path);
  if (!tok.ok()) return report_failure("chat", tok.status());
  auto model = model::Transformer::load_mapped(a.model_dir);  // the engine packs straight from the file
  if (!model.ok()) return report_failure("chat", model.status());
  auto gen = infer::Generator::create(std::move(*model), std::move(*tok), {.max_seq = a.max_seq, .kv_dtype = a.kv_dtype});
  if (!gen.ok()) return report_failure("chat", gen.status());
  const int64_t max_seq = gen->engine().cache().max_seq();
  infer::SamplingOptions sampling = a.sampling;
  for (const std::string& s : tmpl->stop()) sampling.stop.push_back(s);
  const uint64_t seed = a.seed.value_or(g.seed);

  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) std::fprintf(stderr, "anvil chat: %s (context %ld tokens); %s\n", a.model_dir.c_str(), max_seq, kHelp);
  std::vector<infer::ChatMessage> history;
  auto reset = [&] {
    history.clear();
    if (!a.system.empty()) history.push_back({"system", a.system});
  };
  reset();
  std::string line;
  for (uint64_t turn = 0;; ) {
    if (interactive) std::fprintf(stderr, "> "), std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      reset();
      std::fprintf(stderr, "[chat] conversation cleared\n");
      continue;
    }
    if (line == "/help") {
      std::fprintf(stderr, "%s\n", kHelp);
      continue;
    }
    if (line[0] == '/') {
      std::fprintf(stderr, "anvil chat: unknown command '%s'; %s\n", line.c_str(), kHelp);
      continue;
    }
    history.push_back({"user", line});
    // Render; drop the oldest exchange (after the system message) while the prompt leaves no room to reply.
    std::vector<int32_t> ids;
    const size_t first = a.system.empty() ? 0 : 1;
    for (;;) {
      auto text = tmpl->render(history);
      if (!text.ok()) return report_failure("chat", text.status());
      ids.clear();
      for (uint32_t id : gen->tokenizer().encode(*text)) ids.push_back(static_cast<int32_t>(id));
      if (static_cast<int64_t>(ids.size()) < max_seq || history.size() - first <= 1) break;
      history.erase(history.begin() + static_cast<ptrdiff_t>(first));
    }
    if (static_cast<int64_t>(ids.size()) >= max_seq) {
      std::fprintf(stderr, "anvil chat: the message needs %zu tokens with the template; the context holds %ld\n",
                   ids.size(), max_seq);
      history.pop_back();
      continue;
    }
    sampling.seed = seed + turn++;
    auto r = gen->generate_ids(ids, sampling, [](const infer::TokenEvent& e) {
      if (!e.text.empty()) {
        std::fwrite(e.text.data(), 1, e.text.size(), stdout);
        std::fflush(stdout);
      }
    });
    if (!r.ok()) return report_failure("chat", r.status());
    std::fputc('\n', stdout);
    std::fflush(stdout);
    history.push_back({"assistant", r->text});
    if (a.stats) {
      const double tps = r->decode_ms_per_token > 0 ? 1000.0 / r->decode_ms_per_token : 0.0;
      std::fprintf(stderr, "[chat] %ld prompt tokens, %ld generated (finish: %s); TTFT %.1f ms; %.1f tokens/s\n",
                   r->n_prompt_tokens, r->n_tokens, infer::finish_reason_name(r->finish), r->ttft_ms, tps);
    }
  }
  return 0;
}

}  // namespace

Command register_chat(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand(
      "chat",
      "Chat with a model directory (config.json + model.safetensors + tokenizer.json). Reads one message per line "
      "from stdin (a terminal or a pipe), renders the conversation with MODEL/chat_template.json (default: the "
      "quickstart layout 'Question: ...'), streams each reply to stdout. /reset forgets the conversation, /quit or "
      "end of input leaves. The oldest turns are dropped when the conversation outgrows the context.");
  auto a = std::make_shared<ChatArgs>();
  infer::SamplingOptions& s = a->sampling;
  c.app->add_option("--model", a->model_dir, "model directory")->required();
  c.app->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  c.app->add_option("--system", a->system, "system message kept at the start of the conversation");
  c.app->add_option("--max-tokens", s.max_tokens, "tokens per reply at most")->capture_default_str()->check(CLI::PositiveNumber);
  c.app->add_option("--temperature", s.temperature, "0 = greedy")->capture_default_str()->check(CLI::NonNegativeNumber);
  c.app->add_option("--top-k", s.top_k, "keep the k most likely tokens (0 = off)")->capture_default_str()->check(CLI::NonNegativeNumber);
  c.app->add_option("--top-p", s.top_p, "nucleus mass in (0, 1] (1 = off)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  c.app->add_option("--repetition-penalty", s.repetition_penalty, "HF/CTRL penalty over prompt + output (1 = off)")
      ->capture_default_str();
  c.app->add_option("--seed", a->seed, "sampling seed of the first reply (+1 per reply; default: the global --seed)");
  c.app->add_option("--max-seq", a->max_seq, "context (conversation + reply) in tokens; 0 = the model's")
      ->capture_default_str();
  add_kv_cache_option(c.app, &a->kv_dtype);
  c.app->add_flag("--stats", a->stats, "print prompt/generated tokens, TTFT and tokens/s of each reply to stderr");
  c.run = [&g, a]() -> int { return run_chat(g, *a); };
  return c;
}

}  // namespace anvil::cli
