// StopMatcher: finds stop strings in streamed text without ever emitting part of one. Text is pushed
// piece by piece; push() returns the part that is safe to show now — everything except a tail that is
// still a prefix of some stop string (it waits for the next piece). When a stop string appears, the text
// before it is released, the stop string and everything after it are dropped, and stopped() turns true.
// Works on bytes; stop strings are complete UTF-8, so a held-back tail always starts on a character.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace anvil::infer {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends a piece; returns the text now safe to emit (possibly empty).
  std::string push(std::string_view piece);
  // End of generation: releases the held-back tail (no stop string can complete any more).
  std::string finish();
  bool stopped() const { return stopped_; }
  // Everything released so far (the completion text).
  const std::string& text() const { return released_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // text not yet released: always a proper prefix of some stop string, or empty
  std::string released_;
  bool stopped_ = false;
};

}  // namespace anvil::infer
