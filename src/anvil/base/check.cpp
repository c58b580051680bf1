#include "anvil/base/check.h"

#include <cstdio>
#include <cstdlib>

namespace anvil::detail {

void check_failed(const char* cond, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "anvil: internal check failed: %s at %s:%d%s%s\n", cond, file, line,
               msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace anvil::detail
