// anvil: one command from raw text to a served reasoning model. This file only wires subcommands
// (cmd_*.cpp) into CLI11 and turns parse errors into exit code 2 with a --help hint.
#include <cstdio>
#include <vector>

#include "anvil/cli/command.h"

int main(int argc, char** argv) {
  using namespace anvil::cli;
  CLI::App app{
      "anvil — raw text to a served, monitored reasoning language model.\n"
      "Each step reads and writes documented formats (safetensors, tokenizer.json, JSONL, TOML),\n"
      "so it can be used alone or chained by `anvil run`. `anvil <command> --help` explains each.",
      "anvil"};
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_option("-t,--threads", g.threads, "worker threads (0 = all cores)")->capture_default_str();
  app.add_option("--seed", g.seed, "root random seed")->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error")->capture_default_str();

  std::vector<Command> commands = {
      register_version(app, g),
      register_model(app, g),
      register_bench(app, g),
      register_synth(app, g),
      register_train(app, g),
      register_tokenize(app, g),
      register_prep(app, g),
      register_tokenizer(app, g),
      register_generate(app, g),
      register_chat(app, g),
      register_report(app, g),
      register_eval(app, g),
      register_run(app, g),
      register_lm(app, g),
      register_serve(app, g),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "anvil: %s\nRun 'anvil --help' (or 'anvil <command> --help') for usage.\n", e.what());
    return 2;
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return 2;
}
