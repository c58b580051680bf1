#include "anvil/base/context.h"

#include <omp.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace anvil {

int Context::apply() const {
  int n = n_threads > 0 ? n_threads : static_cast<int>(std::thread::hardware_concurrency());
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  return n;
}

Context make_context(int n_threads, uint64_t seed, const char* level) {
  Context ctx;
  ctx.n_threads = n_threads;
  ctx.seed = seed;
  ctx.log = std::make_shared<spdlog::logger>("anvil", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  ctx.log->set_level(spdlog::level::from_str(level));
  ctx.log->set_pattern("[%H:%M:%S.%e] %^%l%$ %v");
  return ctx;
}

}  // namespace anvil
