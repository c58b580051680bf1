#include "anvil/base/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace anvil {

std::string human_count(double n) {
  const char* suffix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::fabs(n) >= 1000.0 && i < 4) {
    n /= 1000.0;
    ++i;
  }
  return i == 0 ? fmt::format("{:.0f}", n) : fmt::format("{:.1f}{}", n, suffix[i]);
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(std::string label, uint64_t total, std::string unit, FILE* out)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), out_(out) {
  tty_ = out_ != nullptr && ::isatty(::fileno(out_));
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_) finish();
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(uint64_t done) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? min_interval_s_ : plain_interval_s_)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  if (out_ == nullptr) return;
  const double t = elapsed_s();
  const double rate = t > 0 ? static_cast<double>(done_) / t : 0.0;
  std::string line = fmt::format("{}  {}", label_, human_count(static_cast<double>(done_)));
  if (total_ > 0) {
    line += fmt::format("/{} {}  {:5.1f}%", human_count(static_cast<double>(total_)), unit_,
                        100.0 * static_cast<double>(done_) / static_cast<double>(total_));
  } else {
    line += " " + unit_;
  }
  line += fmt::format("  {} {}/s", human_count(rate), unit_);
  if (final_line) {
    line += fmt::format("  done in {}", human_duration(t));
  } else if (total_ > 0 && rate > 0) {
    line += fmt::format("  ETA {}", human_duration(static_cast<double>(total_ - std::min(done_, total_)) / rate));
  }
  if (!note_.empty()) line += "  " + note_;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace anvil
