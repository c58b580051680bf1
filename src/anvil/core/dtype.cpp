#include "anvil/core/dtype.h"

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

template <typename T>
float load_as_f32(const void* p, size_t i) {
  const T v = static_cast<const T*>(p)[i];
  if constexpr (std::is_same_v<T, bf16_t>) return bf16_to_f32(v);
  else if constexpr (std::is_same_v<T, f16_t>) return f16_to_f32(v);
  else return static_cast<float>(v);
}

double load_as_f64(const void* p, DType dt, size_t i) {
  switch (dt) {
    case DType::kF32: return static_cast<const float*>(p)[i];
    case DType::kBF16: return load_as_f32<bf16_t>(p, i);
    case DType::kF16: return load_as_f32<f16_t>(p, i);
    case DType::kI8: return static_cast<const int8_t*>(p)[i];
    case DType::kI32: return static_cast<const int32_t*>(p)[i];
    case DType::kI64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
  }
  return 0.0;
}

}  // namespace

void convert(const void* src, DType src_dt, void* dst, DType dst_dt, size_t n) {
  if (src_dt == dst_dt) {
    std::memcpy(dst, src, n * dtype_size(src_dt));
    return;
  }
  // Integer-to-integer copies keep exact values (int64 -> double would lose bits past 2^53).
  const bool src_int = src_dt == DType::kI8 || src_dt == DType::kI32 || src_dt == DType::kI64;
  const bool dst_int = dst_dt == DType::kI8 || dst_dt == DType::kI32 || dst_dt == DType::kI64;
  for (size_t i = 0; i < n; ++i) {
    if (src_int && dst_int) {
      int64_t v = src_dt == DType::kI8    ? static_cast<const int8_t*>(src)[i]
                  : src_dt == DType::kI32 ? static_cast<const int32_t*>(src)[i]
                                          : static_cast<const int64_t*>(src)[i];
      if (dst_dt == DType::kI8) static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v);
      else if (dst_dt == DType::kI32) static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
      else static_cast<int64_t*>(dst)[i] = v;
      continue;
    }
    const double v = load_as_f64(src, src_dt, i);
    switch (dst_dt) {
      case DType::kF32: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
      case DType::kBF16: static_cast<bf16_t*>(dst)[i] = f32_to_bf16(static_cast<float>(v)); break;
      case DType::kF16: static_cast<f16_t*>(dst)[i] = f32_to_f16(static_cast<float>(v)); break;
      case DType::kI8: static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v); break;
      case DType::kI32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
      case DType::kI64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v); break;
    }
  }
}

}  // namespace anvil
