// Reference attention of new queries over a KV cache (ops.h DecodeAttentionDims): for each query the
// full score row over its visible keys in double, softmax, weighted sum of values. The oracle for
// ops::attention_decode; tests also tie it to attention_forward (prefill + decode = full sequence).
// An f16 cache is read exactly (every binary16 value is a double); an int8 one as value * its row's scale.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "anvil/base/check.h"
#include "anvil/kernels/ref/ref.h"

namespace anvil::ref {
namespace {

inline double widen(float x) { return x; }
inline double widen(f16_t x) { return f16_to_f32(x); }
inline double widen(int8_t x) { return x; }

// The scale of row (position j, kv head hk) of an int8 cache; 1 for the others.
template <typename T>
double row_scale(const float* scales, int64_t j, int64_t hk, const DecodeAttentionDims& d) {
  if constexpr (!std::is_same_v<T, int8_t>) return 1.0;
  const int64_t rs = d.scale_row_stride ? d.scale_row_stride : d.Hkv;
  const int64_t hs = d.scale_head_stride ? d.scale_head_stride : 1;
  return scales[j * rs + hk * hs];
}

template <typename T>
void attention_decode_impl(float* out, const float* q, const T* k_cache, const T* v_cache, const DecodeAttentionDims& d) {
  const int64_t qs = d.q_row_stride ? d.q_row_stride : d.H * d.D;
  const int64_t ks = d.kv_row_stride ? d.kv_row_stride : d.Hkv * d.D;
  const int64_t hs = d.kv_head_stride ? d.kv_head_stride : d.D;
  const int64_t group = d.H / d.Hkv;
  const double scale = d.scale != 0.0f ? d.scale : 1.0 / std::sqrt(static_cast<double>(d.D));
  std::vector<double> p, o(static_cast<size_t>(d.D));
  for (int64_t t = 0; t < d.T_new; ++t) {
    const int64_t i = d.pos0 + t, j0 = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0;
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t hk = h / group;
      const float* qi = q + t * qs + h * d.D;
      p.assign(static_cast<size_t>(i - j0 + 1), 0.0);
      double mx = -INFINITY;
      for (int64_t j = j0; j <= i; ++j) {
        const T* kj = k_cache + j * ks + hk * hs;
        double s = 0.0;
        for (int64_t e = 0; e < d.D; ++e) s += static_cast<double>(qi[e]) * widen(kj[e]);
        s *= scale * row_scale<T>(d.k_scale, j, hk, d);
        if (d.alibi_slopes) s += static_cast<double>(d.alibi_slopes[h]) * static_cast<double>(j - i);
        p[static_cast<size_t>(j - j0)] = s;
        mx = std::max(mx, s);
      }
      double sum = 0.0;
      for (double& x : p) sum += x = std::exp(x - mx);
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t j = j0; j <= i; ++j) {
        const T* vj = v_cache + j * ks + hk * hs;
        const double w = p[static_cast<size_t>(j - j0)] / sum * row_scale<T>(d.v_scale, j, hk, d);
        for (int64_t e = 0; e < d.D; ++e) o[static_cast<size_t>(e)] += w * widen(vj[e]);
      }
      float* oi = out + (t * d.H + h) * d.D;
      for (int64_t e = 0; e < d.D; ++e) oi[e] = static_cast<float>(o[static_cast<size_t>(e)]);
    }
  }
}

}  // namespace

void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const DecodeAttentionDims& d) {
  attention_decode_impl(out, q, k_cache, v_cache, d);
}

void attention_decode(float* out, const float* q, const f16_t* k_cache, const f16_t* v_cache,
                      const DecodeAttentionDims& d) {
  attention_decode_impl(out, q, k_cache, v_cache, d);
}

void attention_decode(float* out, const float* q, const int8_t* k_cache, const int8_t* v_cache,
                      const DecodeAttentionDims& d) {
  ANVIL_CHECK(d.k_scale && d.v_scale, "ref::attention_decode: an int8 cache needs k_scale and v_scale");
  attention_decode_impl(out, q, k_cache, v_cache, d);
}

}  // namespace anvil::ref
