// Element types and their conversions. Names follow safetensors / Hugging Face ("F32", "BF16", ...).
// bf16 is the upper half of an IEEE binary32 (round-to-nearest-even on the way down); f16 is IEEE
// binary16. Both are stored as uint16_t bit patterns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "anvil/base/status.h"

namespace anvil {

enum class DType : uint8_t { kF32, kBF16, kF16, kI8, kI32, kI64 };

size_t dtype_size(DType dt);
// Hugging Face / safetensors name: "F32", "BF16", "F16", "I8", "I32", "I64".
const char* dtype_name(DType dt);
Result<DType> dtype_from_name(std::string_view name);

struct bf16_t {
  uint16_t bits;
};
struct f16_t {
  uint16_t bits;
};

inline float bf16_to_f32(bf16_t v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest, ties to even; NaN stays a (quiet) NaN.
inline bf16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{static_cast<uint16_t>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{static_cast<uint16_t>(u >> 16)};
}

float f16_to_f32(f16_t v);
f16_t f32_to_f16(float f);  // round to nearest even, overflow to inf

// Converts n elements between dtypes (any pair of f32/bf16/f16/i8/i32/i64). Float -> int truncates
// toward zero and saturates at the integer range (NaN -> 0); int -> narrower int wraps modulo 2^bits;
// int -> float rounds to nearest even once. Source and destination must not overlap.
void convert(const void* src, DType src_dt, void* dst, DType dst_dt, size_t n);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::kF32; }
template <>
constexpr DType dtype_of<bf16_t>() { return DType::kBF16; }
template <>
constexpr DType dtype_of<f16_t>() { return DType::kF16; }
template <>
constexpr DType dtype_of<int8_t>() { return DType::kI8; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <>
constexpr DType dtype_of<int64_t>() { return DType::kI64; }

}  // namespace anvil
