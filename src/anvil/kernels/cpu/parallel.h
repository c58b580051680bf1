// Shared sizing constants of the CPU kernels: below these amounts of work an OpenMP region costs more
// than it saves (measured on the 2-core dev machine: a fork/join is ~1-3 us).
#pragma once

#include <cstdint>

namespace anvil::ops {

inline constexpr int64_t kParallelMinElems = 1 << 15;  // element-wise ops: fork only past 32k elements
inline constexpr int64_t kChunk = 256;                  // stack chunk for transcendental passes

}  // namespace anvil::ops
