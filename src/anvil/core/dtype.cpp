#include "anvil/core/dtype.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "anvil/base/check.h"

namespace anvil {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kI8: return 1;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
  }
  ANVIL_CHECK(false, "bad dtype {}", static_cast<int>(dt));
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kI8: return "I8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

Result<DType> dtype_from_name(std::string_view name) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kI8, DType::kI32, DType::kI64}) {
    if (name == dtype_name(dt)) return dt;
  }
  return invalid_argument("unsupported dtype '{}' (expected one of F32, BF16, F16, I8, I32, I64)", name);
}

float f16_to_f32(f16_t v) {
  const uint32_t h = v.bits;
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      u = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

f16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return f16_t{static_cast<uint16_t>(sign | 0x7e00u)};  // nan
  if (abs >= 0x477ff000u) return f16_t{static_cast<uint16_t>(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs < 0x33000000u) return f16_t{sign};  // < 2^-25 rounds to 0
    const uint32_t e = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... aligns to 2^-24 units
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return f16_t{static_cast<uint16_t>(sign | q)};
  }
  uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);  // round to nearest even at bit 13
  r -= (127u - 15u) << 23;
  return f16_t{static_cast<uint16_t>(sign | (r >> 13))};
}

namespace {

// One element of S as D. Floating sources go through f32 (exact for bf16/f16); integer sources
// convert directly (int64 -> f32 rounds once, not twice through double). Float -> integer
// truncates toward zero and saturates at the integer range; NaN becomes 0.
template <typename S>
inline float as_f32(S v) {
  if constexpr (std::is_same_v<S, bf16_t>) return bf16_to_f32(v);
  else if constexpr (std::is_same_v<S, f16_t>) return f16_to_f32(v);
  else return static_cast<float>(v);
}

template <typename I>
inline I saturate_cast(float f) {
  if (std::isnan(f)) return 0;
  constexpr float lo = static_cast<float>(std::numeric_limits<I>::min());  // exact: -2^k
  constexpr float hi = -lo;                                                // 2^k, just past max
  if (f <= lo) return std::numeric_limits<I>::min();
  if (f >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(f);
}

template <typename S, typename D>
inline D convert_one(S v) {
  constexpr bool kSrcInt = std::is_integral_v<S>;
  constexpr bool kDstInt = std::is_integral_v<D>;
  if constexpr (kSrcInt && kDstInt) return static_cast<D>(v);  // C++20: modular narrowing
  else if constexpr (kDstInt) return saturate_cast<D>(as_f32(v));
  else if constexpr (std::is_same_v<D, float>) return as_f32(v);
  else if constexpr (std::is_same_v<D, bf16_t>) return f32_to_bf16(as_f32(v));
  else return f32_to_f16(as_f32(v));
}

template <typename S, typename D>
void convert_loop(const void* src, void* dst, size_t n) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
  for (size_t i = 0; i < n; ++i) d[i] = convert_one<S, D>(s[i]);
}

template <typename S>
void convert_from(const void* src, void* dst, DType dst_dt, size_t n) {
  switch (dst_dt) {
    case DType::kF32: return convert_loop<S, float>(src, dst, n);
    case DType::kBF16: return convert_loop<S, bf16_t>(src, dst, n);
    case DType::kF16: return convert_loop<S, f16_t>(src, dst, n);
    case DType::kI8: return convert_loop<S, int8_t>(src, dst, n);
    case DType::kI32: return convert_loop<S, int32_t>(src, dst, n);
    case DType::kI64: return convert_loop<S, int64_t>(src, dst, n);
  }
}

}  // namespace

void convert(const void* src, DType src_dt, void* dst, DType dst_dt, size_t n) {
  if (src_dt == dst_dt) {
    std::memcpy(dst, src, n * dtype_size(src_dt));
    return;
  }
  switch (src_dt) {
    case DType::kF32: return convert_from<float>(src, dst, dst_dt, n);
    case DType::kBF16: return convert_from<bf16_t>(src, dst, dst_dt, n);
    case DType::kF16: return convert_from<f16_t>(src, dst, dst_dt, n);
    case DType::kI8: return convert_from<int8_t>(src, dst, dst_dt, n);
    case DType::kI32: return convert_from<int32_t>(src, dst, dst_dt, n);
    case DType::kI64: return convert_from<int64_t>(src, dst, dst_dt, n);
  }
}

}  // namespace anvil
