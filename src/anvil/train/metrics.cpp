#include "anvil/train/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "anvil/base/file.h"

namespace anvil::train {

MetricsLog::~MetricsLog() {
  if (f_ != nullptr) std::fclose(f_);
}

Status MetricsLog::open(const std::string& path, int64_t truncate_after_step) {
  path_ = path;
  if (truncate_after_step >= 0 && std::filesystem::exists(path)) {
    ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
    std::string kept;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) continue;  // a torn last line from a killed run
      if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > truncate_after_step)
        continue;
      kept += line + "\n";
    }
    ANVIL_RETURN_IF_ERROR(write_file_atomic(path, kept));
  }
  f_ = std::fopen(path.c_str(), "a");
  if (f_ == nullptr) return io_error("[train.metrics] cannot open '{}': {}", path, std::strerror(errno));
  return ok_status();
}

Status MetricsLog::write(const nlohmann::json& line) {
  const std::string s = line.dump() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size() || std::fflush(f_) != 0)
    return io_error("[train.metrics] writing '{}': {}", path_, std::strerror(errno));
  return ok_status();
}

}  // namespace anvil::train
