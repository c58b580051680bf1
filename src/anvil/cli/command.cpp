#include "anvil/cli/command.h"

#include <cstdio>

namespace anvil::cli {

Context make_cli_context(const GlobalOptions& g) {
  Context ctx = make_context(g.threads, g.seed, g.log_level.c_str());
  ctx.apply();
  return ctx;
}

int report_failure(const char* command, const Status& status) {
  std::fprintf(stderr, "anvil %s: %s\n", command, status.to_string().c_str());
  return 1;
}

}  // namespace anvil::cli
