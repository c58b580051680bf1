// metrics.jsonl: one JSON object per line, appended and flushed as training goes, so a crash loses at
// most the line being written and `tail -f` / `anvil report` can read a live run. Each line has a
// "kind" ("train" | "val" | "event") and the fields of that kind (docs/formats/metrics.md).
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "anvil/base/status.h"

namespace anvil::train {

class MetricsLog {
 public:
  MetricsLog() = default;
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Opens `path` for appending. With truncate_after_step >= 0, first drops every line whose "step" is
  // greater (a resumed run rewrites the steps after its checkpoint instead of duplicating them).
  Status open(const std::string& path, int64_t truncate_after_step = -1);
  Status write(const nlohmann::json& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace anvil::train
