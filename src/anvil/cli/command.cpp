#include "anvil/cli/command.h"

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

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

CLI::Option* add_kv_cache_option(CLI::App* app, DType* out) {
  return app
      ->add_option_function<std::string>(
          "--kv-cache",
          [out](const std::string& v) { *out = v == "f32" ? DType::kF32 : v == "int8" ? DType::kI8 : DType::kF16; },
          "KV cache storage: f16 (half the memory and the bytes each decode step reads, as llama.cpp's default), "
          "f32 (the training forward's values up to fp32 summation order) or int8 (a quarter of f32 plus one scale "
          "per position and head: half of f16's memory, keys and values within 1/254 of their row's largest; "
          "less exact than f16)")
      ->check(CLI::IsMember({"f16", "f32", "int8"}))
      ->default_str("f16");
}

void install_stop_handlers(void (*handler)(int)) {
  static std::vector<char> alt_stack(size_t{1} << 16);
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART | SA_ONSTACK;  // interrupted reads and writes resume instead of failing
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace anvil::cli
