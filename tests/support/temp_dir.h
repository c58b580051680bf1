// Scratch space for tests. Every call of temp_root() in one test process returns the same directory,
// TMPDIR/anvil_test_<binary>_<pid>, created on first use and removed with everything under it when the
// process exits normally; a crashed or killed test leaves it behind for inspection. ctest runs each test
// case in its own process, so cases never share a root and a passing run leaves nothing in the temp dir
// (before this, each run left a few hundred MB of per-pid directories behind).
#pragma once

#include <unistd.h>

#include <cerrno>  // program_invocation_short_name (GNU)
#include <filesystem>
#include <string>
#include <system_error>

namespace anvil::test {

inline const std::filesystem::path& temp_root() {
  struct Root {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("anvil_test_" + std::string(program_invocation_short_name) + "_" +
                                  std::to_string(::getpid()));
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Root root;
  std::filesystem::create_directories(root.path);  // again, should a test have removed it
  return root.path;
}

// temp_root() / name, created if missing (what it holds is kept).
inline std::filesystem::path temp_dir(const std::string& name) {
  const std::filesystem::path d = temp_root() / name;
  std::filesystem::create_directories(d);
  return d;
}

// temp_root() / name, empty.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  const std::filesystem::path d = temp_root() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace anvil::test
