// Process facts for metrics and reports: current and peak resident memory (from /proc/self/status,
// VmRSS / VmHWM), wall-clock seconds.
#pragma once

#include <cstdint>

namespace anvil {

struct MemoryUsage {
  uint64_t rss_bytes = 0;       // VmRSS
  uint64_t peak_rss_bytes = 0;  // VmHWM
};

MemoryUsage memory_usage();
double wall_seconds();  // monotonic clock, seconds since an arbitrary epoch

}  // namespace anvil
