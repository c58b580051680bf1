// The two tile products behind the flash-attention kernels, chosen by the build: register-blocked
// AVX-512 micro-kernels when the compiler targets AVX-512, plain loops otherwise.
//   tile_qk: S(n, kTileK) = A(n, D) Bt(D, kTileK)   (A rows with stride lda; Bt a transposed, zero-padded
//            operand with row stride ldb; S row stride lds)
//   tile_pv: O(n, D) += P(n, nk) V(nk, D)            (P element (r, j) at p[r*p_rs + j*p_cs], so P may be
//            read transposed; O and V row-major with row strides)
#pragma once

#include <cstdint>

namespace anvil::ops::tile {
inline constexpr int64_t kTileK = 64;  // columns of S (keys per tile)
}  // namespace anvil::ops::tile

#if defined(__AVX512F__)
#include "anvil/kernels/cpu/tile_micro_avx512.h"
#else
#include "anvil/kernels/cpu/tile_micro_scalar.h"
#endif
