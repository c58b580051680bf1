// The few vector primitives the CPU kernels share (row max, exp, exp with an affine map, erf, 1 + erf),
// chosen by the build: the AVX-512 version when the compiler targets it, a portable scalar one otherwise.
// Kernel files stay ISA-neutral (OpenMP simd loops) and call these for the transcendental parts.
#pragma once

#if defined(ANVIL_WANT_PORTABLE_KERNELS) && defined(__AVX512F__)
#error "the portable kernels (tests/kernels/CMakeLists.txt) are being compiled for AVX-512"
#endif

#if defined(__AVX512F__)
#include "anvil/kernels/cpu/simd_avx512.h"
#else
#include "anvil/kernels/cpu/simd_scalar.h"
#endif
