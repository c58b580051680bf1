// `anvil version`: the build's version, compiler and the GEMM backend it links.
#include <cstdio>

#include "anvil/cli/command.h"

#ifndef ANVIL_VERSION
#define ANVIL_VERSION "0.0.0"
#endif

namespace anvil::cli {

Command register_version(CLI::App& app, const GlobalOptions&) {
  Command c;
  c.app = app.add_subcommand("version", "Print anvil's version and build information");
  c.run = [] {
    std::printf("anvil %s (C++%ld, g++ %d.%d)\n", ANVIL_VERSION, __cplusplus / 100 % 100, __GNUC__, __GNUC_MINOR__);
    return 0;
  };
  return c;
}

}  // namespace anvil::cli
