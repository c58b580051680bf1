// Attention of a few new queries over one sequence's KV cache (prefill chunks and decode steps), anvil::ops.
// One task per (new query, kv head): the query heads of that GQA group walk the keys together in blocks of
// kBlockK = 128, so each block of K/V is read from memory once while it sits in L1/L2 for every head of the
// group. In a decode step the cache is cold (a layer's weights stream through L2/L3 between two attentions)
// and a head's keys are only a few KB, too short for the hardware prefetcher to ramp up; so while the first
// head scores a 16-key sub-block it prefetches the keys 32 rows ahead and that sub-block's values. That made
// a step's attention 1.5-3x faster on a cold cache (LLaMA-15M and GPT-2 S heads, context 100; the same
// within the noise on a hot one) and LLaMA-15M's 8-row decode step 10-25% faster (bench_infer_batch
// profile). Prefill chunks do not prefetch: their queries walk the same rows, hot after the first, and
// prefetching cost a 512-token 15M prefill ~4%. Per block and head (AVX-512, D <= 128): per 16-key
// sub-block, 16 independent dot products transposed and summed into one vector of scores; then one
// online-softmax update for the whole block (running max m, running sum l, output rescaled by
// exp(m_old - m_new)) and the V accumulation with the output in registers. A decode step
// of a model without GQA has one head per task, so the softmax's serial chain (max, exp, sum) bounded it
// at 16-key blocks; 8 independent sub-blocks per update made it ~2x faster (hot cache, LLaMA-15M heads).
// Other builds and D > 128 run a portable per-head loop (the same online softmax, OpenMP simd). Small
// calls never enter an OpenMP region. The cache is fp32, f16 (halving the bytes a decode step reads;
// vcvtph2ps widens each 16-value slice as it is loaded, so the arithmetic is the same fp32 either way) or
// int8 with a scale per (position, kv head) row (a quarter of the bytes: each 16-key sub-block's scores
// are multiplied by its 16 key scales, each value row's weight by its scale).
// Semantics: ops.h DecodeAttentionDims; the oracle is ref/ref_attention_decode.cpp. GCC 12 flags the
// _mm512_undefined_ps() inside its own shuffle/unpack intrinsics as (maybe) uninitialised (GCC PR 105593);
// the pragmas precede every include.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

namespace anvil::ops {
namespace {

constexpr int64_t kChunkK = 256;                        // portable path: keys per online-softmax step
constexpr int64_t kParallelMinWork = int64_t{1} << 19;  // multiply-adds below which one thread runs it

inline float widen(float x) { return x; }
inline float widen(f16_t x) { return f16_to_f32(x); }
inline float widen(int8_t x) { return x; }

// Where row scales are (int8 caches): row (position j, kv head hk) at j * row + hk * head.
struct ScaleStrides {
  int64_t row, head;
  explicit ScaleStrides(const DecodeAttentionDims& d)
      : row(d.scale_row_stride ? d.scale_row_stride : d.Hkv), head(d.scale_head_stride ? d.scale_head_stride : 1) {}
};

// The scale of row (j, hk) of an int8 cache; exactly 1 for fp32 / f16 caches.
template <typename T>
inline float row_scale(const float* scales, int64_t j, int64_t hk, const ScaleStrides& ss) {
  if constexpr (std::is_same_v<T, int8_t>) return scales[j * ss.row + hk * ss.head];
  else return 1.0f;
}

template <typename T>
inline float dot(const float* a, const T* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t e = 0; e < n; ++e) acc += a[e] * widen(b[e]);
  return acc;
}

// Portable: out (D) = softmax over the visible keys of query position i, head h, times their values.
template <typename T>
void attend_one(float* o, const float* qv, const T* k_cache, const T* v_cache, int64_t i, int64_t hk,
                float slope, float scale, const DecodeAttentionDims& d, int64_t ks, int64_t hs) {
  const int64_t D = d.D;
  const int64_t j_begin = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0, j_end = i + 1;
  const ScaleStrides ss(d);
  alignas(64) float s[kChunkK];
  std::fill(o, o + D, 0.0f);
  float m = -INFINITY, l = 0.0f;
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kChunkK) {
    const int64_t nk = std::min(kChunkK, j_end - j0);
    for (int64_t jj = 0; jj < nk; ++jj) {
      const int64_t j = j0 + jj;
      s[jj] = dot(qv, k_cache + j * ks + hk * hs, D) * (scale * row_scale<T>(d.k_scale, j, hk, ss)) +
              slope * static_cast<float>(j - i);
    }
    const float m_new = std::max(m, simd::max(s, nk));
    const float alpha = m == -INFINITY ? 0.0f : std::exp(m - m_new);
    l = l * alpha + simd::exp_shift_sum(s, s, m_new, nk);
    if (alpha != 1.0f) {
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) o[e] *= alpha;
    }
    for (int64_t jj = 0; jj < nk; ++jj) {
      const float p = s[jj] * row_scale<T>(d.v_scale, j0 + jj, hk, ss);
      const T* vj = v_cache + (j0 + jj) * ks + hk * hs;
#pragma omp simd
      for (int64_t e = 0; e < D; ++e) o[e] += p * widen(vj[e]);
    }
    m = m_new;
  }
  const float inv = 1.0f / l;
#pragma omp simd
  for (int64_t e = 0; e < D; ++e) o[e] *= inv;
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define ANVIL_DECODE_AVX512 1

constexpr int kLanes = 16;
constexpr int kSubBlocks = 8;                 // 16-key sub-blocks per block: independent score chains
constexpr int64_t kBlockK = kLanes * kSubBlocks;  // keys per online-softmax step
constexpr int kMaxChunks = 8;    // 16-float chunks of a head: D <= 128 takes the blocked kernel
constexpr int kMaxGroup = 8;     // query heads walking the keys together (a larger GQA group is split)

// Lane j of the result = the sum of the 16 lanes of a[j] (a 16x16 transpose folded into the adds).
inline __m512 transpose_sum16(const __m512 (&a)[kLanes]) {
  __m512 b[8], c[4];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k)
    b[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]), _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m512d x = _mm512_castps_pd(b[2 * k]), y = _mm512_castps_pd(b[2 * k + 1]);
    c[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  const __m512 e01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x44), _mm512_shuffle_f32x4(c[0], c[1], 0xEE));
  const __m512 e23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x44), _mm512_shuffle_f32x4(c[2], c[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(e01, e23, 0x88), _mm512_shuffle_f32x4(e01, e23, 0xDD));
}

// 16 cache values (masked lanes read as 0) as fp32.
inline __m512 load16(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(__mmask16 m, const f16_t* p) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
inline __m512 load16(__mmask16 m, const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

inline float reduce_max(__m512 x) {
  x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, 0x4E));
  x = _mm512_max_ps(x, _mm512_shuffle_f32x4(x, x, 0xB1));
  x = _mm512_max_ps(x, _mm512_permute_ps(x, 0x4E));
  return _mm512_cvtss_f32(_mm512_max_ps(x, _mm512_permute_ps(x, 0xB1)));
}

inline float reduce_add(__m512 x) {
  x = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, 0x4E));
  x = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, 0xB1));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0x4E));
  return _mm512_cvtss_f32(_mm512_add_ps(x, _mm512_permute_ps(x, 0xB1)));
}

constexpr int64_t kPrefetchRows = 32;

// prefetcht0 of the line holding p. Inline asm, because GCC's -O2 dead-code elimination deletes a loop
// whose only statements are __builtin_prefetch calls (a finite loop with no side effects).
inline void prefetch_line(const char* p) { asm volatile("prefetcht0 %0" : : "m"(*p)); }

// Prefetches the 16 rows at p (ks elements apart, NC 16-value chunks each) into L1.
template <int NC, typename T>
inline void prefetch_sub_block(const T* p, int64_t ks) {
  constexpr int64_t kRowBytes = NC * kLanes * static_cast<int64_t>(sizeof(T));
  const char* c = reinterpret_cast<const char*>(p);
  const int64_t stride = ks * static_cast<int64_t>(sizeof(T));
  if (stride <= kRowBytes) {  // contiguous rows (the engine's per-head layout): one range
    for (int64_t b = 0; b < 15 * stride + kRowBytes; b += 64) prefetch_line(c + b);
    return;
  }
  for (int r = 0; r < kLanes; ++r) {
    for (int64_t b = 0; b < kRowBytes; b += 64) prefetch_line(c + r * stride + b);
    prefetch_line(c + r * stride + kRowBytes - 1);  // a row that starts mid-line ends in one more
  }
}

// Heads h0 .. h0+n_heads-1 (all of kv head hk) of the query at position i: out and q point at head h0's
// D floats (heads contiguous). out holds the unnormalised output between blocks.
template <int NC, typename T>
void attend_group(float* out, const float* q, const T* k_cache, const T* v_cache, int64_t i, int64_t hk,
                  int64_t h0, int n_heads, float scale, const DecodeAttentionDims& d, int64_t ks, int64_t hs) {
  const int64_t D = d.D;
  const bool prefetch = d.T_new == 1;  // a decode step: cold cache (a prefill chunk's queries share hot rows)
  const int64_t j_begin = d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0, j_end = i + 1;
  const auto last = static_cast<__mmask16>((1u << (D - (NC - 1) * kLanes)) - 1u);  // the last chunk's lanes
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  constexpr bool kScaled = std::is_same_v<T, int8_t>;  // rows carry a scale (int8)
  const ScaleStrides ss(d);
  float m[kMaxGroup], l[kMaxGroup];
  for (int g = 0; g < n_heads; ++g) m[g] = -INFINITY, l[g] = 0.0f;
  alignas(64) float p[kBlockK];
  // One block of nk <= kBlockK keys from j0. kFull (all but the last block) addresses row jj as kb + jj * ks;
  // a short block skips its empty 16-key sub-blocks and, in the last one, repeats its last row (p = 0 there).
  auto block = [&]<bool kFull>(int64_t j0, int64_t nk) {
    auto row = [&](int jj) -> int64_t { return kFull ? jj : std::min<int64_t>(jj, nk - 1); };
    const int n_sub = kFull ? kSubBlocks : static_cast<int>((nk + kLanes - 1) / kLanes);
    const T* kb = k_cache + j0 * ks + hk * hs;
    const T* vb = v_cache + j0 * ks + hk * hs;
    for (int g = 0; g < n_heads; ++g) {
      const float* qg = q + g * D;
      float* og = out + g * D;
      __m512 qv[NC];
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) qv[c] = _mm512_maskz_loadu_ps(c == NC - 1 ? last : 0xFFFF, qg + c * kLanes);
      const float slope = d.alibi_slopes ? d.alibi_slopes[h0 + g] : 0.0f;
      // Scores of each 16-key sub-block: 16 dot products, transposed and summed into one vector (keys past
      // the block's end masked to -inf). The sub-blocks are independent, so their chains overlap.
      __m512 sc[kSubBlocks];
      __m512 mx = _mm512_set1_ps(-INFINITY);
#pragma GCC unroll 4
      for (int sb = 0; sb < kSubBlocks; ++sb) {
        if (sb >= n_sub) break;
        if (prefetch && g == 0) {
          prefetch_sub_block<NC>(kb + (sb * kLanes + kPrefetchRows) * ks, ks);
          prefetch_sub_block<NC>(vb + sb * kLanes * ks, ks);
        }
        __m512 acc[kLanes];
#pragma GCC unroll 16
        for (int jj = 0; jj < kLanes; ++jj) {
          const T* kj = kb + row(sb * kLanes + jj) * ks;
          acc[jj] = _mm512_mul_ps(qv[0], load16(NC == 1 ? last : 0xFFFF, kj));
#pragma GCC unroll 8
          for (int c = 1; c < NC; ++c)
            acc[jj] = _mm512_fmadd_ps(qv[c], load16(c == NC - 1 ? last : 0xFFFF, kj + c * kLanes), acc[jj]);
        }
        const __m512 pos = _mm512_add_ps(iota, _mm512_set1_ps(static_cast<float>(j0 + sb * kLanes - i)));  // j - i
        __m512 dots = transpose_sum16(acc);
        if constexpr (kScaled) {
          alignas(64) float kscale[kLanes];
          for (int jj = 0; jj < kLanes; ++jj) kscale[jj] = row_scale<T>(d.k_scale, j0 + row(sb * kLanes + jj), hk, ss);
          dots = _mm512_mul_ps(dots, _mm512_load_ps(kscale));
        }
        sc[sb] = _mm512_fmadd_ps(dots, _mm512_set1_ps(scale), _mm512_mul_ps(_mm512_set1_ps(slope), pos));
        if (!kFull) {
          const int64_t n_valid = std::min<int64_t>(kLanes, nk - sb * kLanes);
          sc[sb] = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), static_cast<__mmask16>((1u << n_valid) - 1u), sc[sb]);
        }
        mx = _mm512_max_ps(mx, sc[sb]);
      }
      // Online softmax, once per block: running max m, running sum l, output rescaled by exp(m_old - m_new).
      const float m_new = std::max(m[g], reduce_max(mx));
      const __m512 mv = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 4
      for (int sb = 0; sb < kSubBlocks; ++sb) {
        if (sb >= n_sub) break;
        const __m512 e = simd::exp512(_mm512_sub_ps(sc[sb], mv));  // exp(-inf) = 0 for masked keys
        sum = _mm512_add_ps(sum, e);
        _mm512_store_ps(p + sb * kLanes, e);
      }
      const float alpha = m[g] == -INFINITY ? 0.0f : std::exp(m[g] - m_new);
      l[g] = l[g] * alpha + reduce_add(sum);
      m[g] = m_new;
      // o = alpha o + sum_jj p[jj] v[jj] (o starts at 0: the first block does not read it); two interleaved
      // accumulator sets halve the FMA chains.
      __m512 o0[NC], o1[NC];
      const __m512 av = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        o0[c] = j0 == j_begin ? _mm512_setzero_ps()
                              : _mm512_mul_ps(av, _mm512_maskz_loadu_ps(c == NC - 1 ? last : 0xFFFF, og + c * kLanes));
        o1[c] = _mm512_setzero_ps();
      }
      const int n_rows = kFull ? static_cast<int>(kBlockK) : n_sub * kLanes;
#pragma GCC unroll 16
      for (int jj = 0; jj < n_rows; jj += 2) {
        const T* vj = vb + row(jj) * ks;
        const T* vj1 = vb + row(jj + 1) * ks;
        float wa = p[jj], wb = p[jj + 1];
        if constexpr (kScaled)
          wa *= row_scale<T>(d.v_scale, j0 + row(jj), hk, ss), wb *= row_scale<T>(d.v_scale, j0 + row(jj + 1), hk, ss);
        const __m512 pa = _mm512_set1_ps(wa), pb = _mm512_set1_ps(wb);
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) {
          const __mmask16 cm = c == NC - 1 ? last : 0xFFFF;
          o0[c] = _mm512_fmadd_ps(pa, load16(cm, vj + c * kLanes), o0[c]);
          o1[c] = _mm512_fmadd_ps(pb, load16(cm, vj1 + c * kLanes), o1[c]);
        }
      }
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c)
        _mm512_mask_storeu_ps(og + c * kLanes, c == NC - 1 ? last : 0xFFFF, _mm512_add_ps(o0[c], o1[c]));
    }
  };
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, j_end - j0);
    if (nk == kBlockK) block.template operator()<true>(j0, nk);
    else block.template operator()<false>(j0, nk);
  }
  for (int g = 0; g < n_heads; ++g) {
    const float inv = 1.0f / l[g];
    for (int64_t e = 0; e < D; ++e) out[g * D + e] *= inv;
  }
}

template <typename T>
using GroupKernel = void (*)(float*, const float*, const T*, const T*, int64_t, int64_t, int64_t, int, float,
                             const DecodeAttentionDims&, int64_t, int64_t);
template <typename T>
constexpr GroupKernel<T> kGroupKernels[kMaxChunks] = {
    attend_group<1, T>, attend_group<2, T>, attend_group<3, T>, attend_group<4, T>,
    attend_group<5, T>, attend_group<6, T>, attend_group<7, T>, attend_group<8, T>};

#endif

template <typename T>
void attention_decode_impl(float* out, const float* q, const T* k_cache, const T* v_cache,
                           const DecodeAttentionDims& d) {
  const int64_t qs = d.q_row_stride ? d.q_row_stride : d.H * d.D;
  const int64_t ks = d.kv_row_stride ? d.kv_row_stride : d.Hkv * d.D;
  const int64_t hs = d.kv_head_stride ? d.kv_head_stride : d.D;
  const int64_t group = d.H / d.Hkv;
  const float scale = d.scale != 0.0f ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.D));
  const int64_t n_keys = d.window > 0 ? std::min(d.window, d.pos0 + d.T_new) : d.pos0 + d.T_new;
#if defined(ANVIL_DECODE_AVX512)
  if (d.D <= kMaxChunks * kLanes) {
    // Tasks: (new query, kv head, sub-group of at most kMaxGroup of its query heads).
    const GroupKernel<T> kernel = kGroupKernels<T>[(d.D + kLanes - 1) / kLanes - 1];
    const int64_t n_sub = (group + kMaxGroup - 1) / kMaxGroup, per_t = d.Hkv * n_sub, n_tasks = d.T_new * per_t;
    auto run = [&](int64_t task) {
      const int64_t t = task / per_t, hk = task % per_t / n_sub, sub = task % n_sub;
      const int64_t h0 = hk * group + sub * kMaxGroup;
      const int n_heads = static_cast<int>(std::min<int64_t>(kMaxGroup, group - sub * kMaxGroup));
      kernel(out + (t * d.H + h0) * d.D, q + t * qs + h0 * d.D, k_cache, v_cache, d.pos0 + t, hk, h0, n_heads, scale,
             d, ks, hs);
    };
    // Later queries see more keys: hand them out first. A small call never enters an OpenMP region (even
    // an inactive one costs a team set-up, more than a decode step's attention of a small model).
    if (n_tasks > 1 && 2 * d.T_new * d.H * n_keys * d.D >= kParallelMinWork) {
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t task = n_tasks - 1; task >= 0; --task) run(task);
    } else {
      for (int64_t task = n_tasks - 1; task >= 0; --task) run(task);
    }
    return;
  }
#endif
  const int64_t n_tasks = d.T_new * d.H;
  auto run = [&](int64_t task) {
    const int64_t t = task / d.H, h = task % d.H;
    const float slope = d.alibi_slopes ? d.alibi_slopes[h] : 0.0f;
    attend_one(out + task * d.D, q + t * qs + h * d.D, k_cache, v_cache, d.pos0 + t, h / group, slope, scale, d, ks,
               hs);
  };
  if (n_tasks > 1 && 2 * n_tasks * n_keys * d.D >= kParallelMinWork) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t task = n_tasks - 1; task >= 0; --task) run(task);
  } else {
    for (int64_t task = n_tasks - 1; task >= 0; --task) run(task);
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
  ANVIL_CHECK(d.k_scale && d.v_scale, "ops::attention_decode: an int8 cache needs k_scale and v_scale");
  attention_decode_impl(out, q, k_cache, v_cache, d);
}

}  // namespace anvil::ops
