// A terminal progress line for long work: "label  12.3k/50.0k  24.6%  1.2k merges/s  ETA 0:31".
// Redraws at most every `min_interval_s` on a TTY (carriage return), or logs a plain line every
// `plain_interval_s` when stderr is not a terminal (CI logs stay readable). Not thread-safe: one
// owner thread calls update(); workers report through an atomic counter the owner reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace anvil {

class Progress {
 public:
  // total = 0 means unknown (no percentage, no ETA). unit names what is counted ("docs", "merges").
  Progress(std::string label, uint64_t total, std::string unit, FILE* out = stderr);
  ~Progress();  // finishes the line if finish() was not called

  void update(uint64_t done);          // absolute count
  void add(uint64_t n) { update(done_ + n); }
  void set_note(std::string note) { note_ = std::move(note); }  // extra text at the end of the line
  void finish();                       // final line with the total elapsed time

  double elapsed_s() const;

 private:
  void draw(bool final_line);

  std::string label_, unit_, note_;
  uint64_t total_ = 0, done_ = 0;
  FILE* out_;
  bool tty_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  double min_interval_s_ = 0.1, plain_interval_s_ = 10.0;
};

// "1.23k", "45.6M" — compact counts for progress lines and reports.
std::string human_count(double n);
// "1:02:03" or "2:03".
std::string human_duration(double seconds);

}  // namespace anvil
