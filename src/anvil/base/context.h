// The context object: what would otherwise be process-wide mutable state (thread count, logger,
// root seed) travels explicitly from the CLI down to the layers that need it.
// Kernels parallelise with OpenMP; Context::apply() sets the OpenMP thread count once.
#pragma once

#include <cstdint>
#include <memory>

namespace spdlog {
class logger;
}

namespace anvil {

struct Context {
  int n_threads = 0;  // 0 = all hardware threads
  uint64_t seed = 1337;
  std::shared_ptr<spdlog::logger> log;  // never null after make_context()

  // Sets OpenMP's thread count to n_threads (or the hardware count) and returns the count used.
  int apply() const;
};

// A context logging to stderr at `level` ("info", "debug", "warn", ...).
Context make_context(int n_threads = 0, uint64_t seed = 1337, const char* level = "info");

}  // namespace anvil
