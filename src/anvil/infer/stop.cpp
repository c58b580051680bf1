// StopMatcher (see stop.h). After each push the held text is scanned for the earliest complete stop
// string; if none, the longest suffix that is a proper prefix of a stop string stays held.
#include "anvil/infer/stop.h"

#include <algorithm>

namespace anvil::infer {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopMatcher::push(std::string_view piece) {
  if (stopped_) return {};
  held_.append(piece);
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  std::string out;
  if (first != std::string::npos) {
    out = held_.substr(0, first);
    held_.clear();
    stopped_ = true;
  } else {
    size_t keep = 0;  // longest suffix of held_ that is a proper prefix of a stop string
    for (const std::string& s : stops_) {
      for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n) {
        if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
          keep = n;
          break;
        }
      }
    }
    out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
  }
  released_ += out;
  return out;
}

std::string StopMatcher::finish() {
  std::string out;
  out.swap(held_);
  released_ += out;
  return out;
}

}  // namespace anvil::infer
