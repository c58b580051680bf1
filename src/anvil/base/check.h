// Assertions for bugs: conditions that no input can violate unless anvil itself is wrong.
// User input never reaches these; it gets a Status (status.h). A failed check prints the
// condition, the location and an optional formatted message, then aborts.
#pragma once

#include <fmt/format.h>

namespace anvil::detail {
[[noreturn]] void check_failed(const char* cond, const char* file, int line, const std::string& msg);
}  // namespace anvil::detail

#define ANVIL_CHECK(cond, ...)                                                            \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      ::anvil::detail::check_failed(#cond, __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define ANVIL_DCHECK(cond, ...) \
  do {                          \
  } while (0)
#else
#define ANVIL_DCHECK(cond, ...) ANVIL_CHECK(cond, __VA_ARGS__)
#endif
