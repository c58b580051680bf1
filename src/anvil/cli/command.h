// How subcommands plug into `anvil`: each cli/cmd_<name>.cpp defines one register_<name>() that adds
// a CLI11 subcommand and sets its callback. Callbacks return an exit code: 0 ok, 1 runtime failure
// (the message names the file, line or field), 2 usage error. Only cli/ picks exit codes.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "anvil/base/context.h"
#include "anvil/base/status.h"
#include "anvil/core/dtype.h"

namespace anvil::cli {

// Options every subcommand shares (set on the top-level app, read after parsing).
struct GlobalOptions {
  int threads = 0;  // 0 = all cores
  uint64_t seed = 1337;
  std::string log_level = "info";
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // runs when this subcommand was chosen
};

// Builds the Context from the global options (called inside a subcommand's run()).
Context make_cli_context(const GlobalOptions& g);

// Prints "anvil <cmd>: <status>" to stderr and returns the exit code for it (1).
int report_failure(const char* command, const Status& status);

// Installs `handler` for SIGINT and SIGTERM (SA_RESTART), running on an alternate signal stack: with its
// frame on the interrupted stack, Ctrl-C in the middle of a oneDNN GEMM corrupted the heap in about half
// the tries (JIT code keeping data below the stack pointer is the likely cause); on its own stack never.
void install_stop_handlers(void (*handler)(int));

// `--kv-cache f16|f32` (KV cache storage of generate, chat, serve), writing into `out`.
CLI::Option* add_kv_cache_option(CLI::App* app, DType* out);

// One line per subcommand; implemented in cmd_<name>.cpp.
Command register_version(CLI::App& app, const GlobalOptions& g);
Command register_model(CLI::App& app, const GlobalOptions& g);
Command register_bench(CLI::App& app, const GlobalOptions& g);
Command register_synth(CLI::App& app, const GlobalOptions& g);
Command register_train(CLI::App& app, const GlobalOptions& g);
Command register_tokenize(CLI::App& app, const GlobalOptions& g);
Command register_prep(CLI::App& app, const GlobalOptions& g);
Command register_tokenizer(CLI::App& app, const GlobalOptions& g);
Command register_generate(CLI::App& app, const GlobalOptions& g);
Command register_chat(CLI::App& app, const GlobalOptions& g);
Command register_report(CLI::App& app, const GlobalOptions& g);
Command register_eval(CLI::App& app, const GlobalOptions& g);
Command register_run(CLI::App& app, const GlobalOptions& g);
Command register_lm(CLI::App& app, const GlobalOptions& g);
Command register_serve(CLI::App& app, const GlobalOptions& g);

}  // namespace anvil::cli
