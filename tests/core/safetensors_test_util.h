// Helpers for the safetensors tests: build file images from a header string and data bytes,
// parse them and return the error message, temp paths.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <span>
#include <string>

#include "anvil/core/safetensors.h"
#include "support/temp_dir.h"

namespace anvil::test {

inline std::span<const uint8_t> span_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// [u64 LE header.size()][header][data]; the header is used as given (no padding added).
inline std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

// The row-major bytes of a tensor.
inline std::string bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  return c.nbytes() == 0 ? std::string() : std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

// The error message from parsing `bytes`, or "<parsed ok>" when it parses.
inline std::string parse_error(const std::string& bytes, const std::string& label = "t.st") {
  auto f = SafetensorsFile::parse(span_of(bytes), label);
  return f.ok() ? std::string("<parsed ok>") : f.status().message();
}

inline std::string temp_path(const std::string& name) {
  return (temp_root() / name).string();
}

}  // namespace anvil::test
