// small_linear (see small_linear.h), register-blocked so one pass over the weights serves all N rows.
// nn.Linear (out, in): a group of O outputs x N rows keeps O*N zmm accumulators; each 16-float slice of
// the O weight rows is loaded once and FMAed with the N input slices (masked tail), then reduced.
// Conv1D (in, out): a block of 16*K columns x N rows stays in N*K zmm accumulators over the i loop
// (one weight load per 16 columns, x[n][i] broadcast). Rows beyond one pass (kOutPassRows, kPassRows) run
// as further passes over the same weights while they are cache-hot (one stream from memory for up to 16
// rows). Batch invariance: every (row, output) has its own accumulator, fed in i order, reduced by the same
// tree, so a row's result does not depend on N, on the blocking, on the pass or on the other rows. Threads
// split output features (kParallelMinWeights).
// GCC 12 flags the _mm512_undefined_ps() inside its own shuffle/permute intrinsics as (maybe) uninitialised
// (GCC PR 105593); the pragma precedes every include so it covers immintrin.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "anvil/infer/small_linear.h"

#include <algorithm>
#include <utility>

#include "anvil/base/check.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace anvil::infer {
namespace {

constexpr int64_t kParallelMinWeights = int64_t{1} << 15;

#if defined(__AVX512F__)

constexpr int kLanes = 16;
constexpr int kPassRows = 8;     // kInOut: rows one register-blocked pass serves
constexpr int kOutPassRows = 4;  // kOutIn: the same (4 rows x 4 outputs measured ~3% faster than 8 x 2 at
                                 // 8 rows and ~17% at 16, LLaMA 15M decode, 1 thread)
// kOutIn: outputs per group by rows per pass (8 or 4), so there are O*N >= 8 independent FMA chains and
// O*N accumulators + N inputs + 1 weight fit the 32 zmm registers.
constexpr int kOutGroup[kOutPassRows + 1] = {0, 8, 4, 4, 4};
// kInOut: 16-column vectors per block by rows per pass, so N*K >= 8 chains and N*K + K + 1 <= 32 zmm.
constexpr int kMaxColVecs = 8;
constexpr int kColVecs[kPassRows + 1] = {0, 8, 4, 3, 3, 3, 3, 3, 3};
// kOutIn: the weights of the group this many floats (8 KiB, rounded to whole groups) ahead are prefetched
// while a group computes — about a DRAM latency's worth of streaming.
constexpr int64_t kPrefetchFloats = 2048;
constexpr int64_t kPrefetchRows = 8;  // kInOut: weight rows prefetched ahead of the i loop

__mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// The one horizontal sum of every dot product, four accumulators at a time: lane j pairs with j+8,
// then j+4, j+2, j+1 — the same tree for each accumulator, whichever group it sits in.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  const __m512 s4 = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  const __m512 s2 = _mm512_add_ps(s4, _mm512_permute_ps(s4, 0x4E));
  const __m512 s1 = _mm512_add_ps(s2, _mm512_permute_ps(s2, 0xB1));
  const __m512i lane0 = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(lane0, s1));
}

// Loads the N input slices into registers (the empty asm keeps GCC from re-reading them from memory
// as an operand of every FMA, which would double the loads).
template <int N>
inline void load_inputs(__m512 (&xv)[N], const float* x, int64_t ldi, int64_t i, __mmask16 m) {
#pragma GCC unroll 8
  for (int n = 0; n < N; ++n) {
    xv[n] = _mm512_maskz_loadu_ps(m, x + n * ldi + i);
    asm("" : "+v"(xv[n]));
  }
}

// out[n][o] = dot(w[o], x[n]) (+ b[o]) for o < O, n < N <= kPassRows; w rows at stride `in`. The weights
// `pf` floats further on (a later group) are prefetched at the same offsets when kPrefetch.
template <int N, int O, bool kPrefetch>
void out_in_group(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
                  int64_t pf) {
  constexpr int kAcc = (N * O + 3) / 4 * 4;
  __m512 acc[kAcc];  // acc[n * O + o]; the padding stays zero
#pragma GCC unroll 32
  for (int f = 0; f < kAcc; ++f) acc[f] = _mm512_setzero_ps();
  for (int64_t i = 0; i < in; i += kLanes) {
    const __mmask16 m = in - i >= kLanes ? __mmask16{0xFFFF} : tail_mask(in - i);
    __m512 xv[N];
    load_inputs<N>(xv, x, ldi, i, m);
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) {
      if constexpr (kPrefetch) _mm_prefetch(reinterpret_cast<const char*>(w + pf + o * in + i), _MM_HINT_T0);
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + o * in + i);
#pragma GCC unroll 8
      for (int n = 0; n < N; ++n) acc[n * O + o] = _mm512_fmadd_ps(wv, xv[n], acc[n * O + o]);
    }
  }
  // Sums four at a time, + bias, stored: a quad is 4 outputs of one row (O >= 4), 2 outputs of 2 rows
  // (O == 2) or 1 output of 4 rows (O == 1).
#pragma GCC unroll 8
  for (int f = 0; f < kAcc; f += 4) {
    __m128 r = hsum4(acc[f], acc[f + 1], acc[f + 2], acc[f + 3]);
    const int n = f / O, o = f % O;
    if constexpr (O >= 4) {
      if (b) r = _mm_add_ps(r, _mm_loadu_ps(b + o));
      _mm_storeu_ps(out + n * ldo + o, r);
    } else if constexpr (O == 2) {
      if (b) r = _mm_add_ps(r, _mm_castpd_ps(_mm_loaddup_pd(reinterpret_cast<const double*>(b))));
      _mm_storel_pi(reinterpret_cast<__m64*>(out + n * ldo), r);
      if (n + 1 < N) _mm_storeh_pi(reinterpret_cast<__m64*>(out + (n + 1) * ldo), r);
    } else {
      if (b) r = _mm_add_ps(r, _mm_set1_ps(b[0]));
      alignas(16) float s[4];
      _mm_store_ps(s, r);
      for (int j = 0; j < 4 && n + j < N; ++j) out[(n + j) * ldo] = s[j];
    }
  }
}

// All N rows for O outputs in passes of up to P rows: the first streams (and prefetches) the weights, the
// others run over the same, now cache-hot, weights.
template <int N, int O, int P, bool kFirst = true>
void out_in_rows(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
                 int64_t pf) {
  out_in_group<std::min(N, P), O, kFirst>(w, in, x, ldi, b, out, ldo, pf);
  if constexpr (N > P) out_in_rows<N - P, O, P, false>(w, in, x + P * ldi, ldi, b, out + P * ldo, ldo, pf);
}

template <int N>
void out_in(const model::Linear& lin, float* out, int64_t ldo, const float* x, int64_t ldi, bool parallel) {
  constexpr int P = std::min(N, kOutPassRows), O = kOutGroup[P];
  const int64_t in = lin.in, n_out = lin.out, n_groups = (n_out + O - 1) / O;
  const int64_t group_floats = O * in, pf = std::max<int64_t>(1, kPrefetchFloats / group_floats) * group_floats;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t g = 0; g < n_groups; ++g) {
    // A short last group is done as groups of 4, 2 and 1 outputs (the same arithmetic per output).
    for (int64_t o0 = g * O, o_end = std::min(n_out, o0 + O); o0 < o_end;) {
      const int64_t left = o_end - o0;
      const float* w = lin.w + o0 * in;
      const float* b = lin.b ? lin.b + o0 : nullptr;
      if (left >= O) out_in_rows<N, O, P>(w, in, x, ldi, b, out + o0, ldo, pf), o0 += O;
      else if (left >= 4) out_in_rows<N, 4, P>(w, in, x, ldi, b, out + o0, ldo, pf), o0 += 4;
      else if (left >= 2) out_in_rows<N, 2, P>(w, in, x, ldi, b, out + o0, ldo, pf), o0 += 2;
      else out_in_rows<N, 1, P>(w, in, x, ldi, b, out + o0, ldo, pf), o0 += 1;
    }
  }
}

// out[n][c] = sum_i x[n][i] w[i][c] (+ b[c]) for 16*K columns c (the last vector masked by `last`),
// n < N <= kPassRows; w rows at stride `ldw`. Each lane starts from b[c] (or 0) and adds x[n][i] w[i][c] in
// i order.
template <int N, int K>
void in_out_block(const float* w, int64_t in, int64_t ldw, const float* x, int64_t ldi, const float* b, float* out,
                  int64_t ldo, __mmask16 last) {
  __m512 acc[N * K];  // acc[n * K + k]
#pragma GCC unroll 8
  for (int k = 0; k < K; ++k) {
    const __mmask16 m = k == K - 1 ? last : __mmask16{0xFFFF};
    const __m512 bv = b ? _mm512_maskz_loadu_ps(m, b + k * kLanes) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int n = 0; n < N; ++n) acc[n * K + k] = bv;
  }
  for (int64_t i = 0; i < in; ++i) {
    const float* wi = w + i * ldw;
    __m512 wv[K];
#pragma GCC unroll 8
    for (int k = 0; k < K - 1; ++k) wv[k] = _mm512_loadu_ps(wi + k * kLanes);
    wv[K - 1] = _mm512_maskz_loadu_ps(last, wi + (K - 1) * kLanes);
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k)
      _mm_prefetch(reinterpret_cast<const char*>(wi + kPrefetchRows * ldw + k * kLanes), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int n = 0; n < N; ++n) {
      const __m512 xb = _mm512_set1_ps(x[n * ldi + i]);
#pragma GCC unroll 8
      for (int k = 0; k < K; ++k) acc[n * K + k] = _mm512_fmadd_ps(wv[k], xb, acc[n * K + k]);
    }
  }
#pragma GCC unroll 8
  for (int n = 0; n < N; ++n) {
#pragma GCC unroll 8
    for (int k = 0; k < K - 1; ++k) _mm512_storeu_ps(out + n * ldo + k * kLanes, acc[n * K + k]);
    _mm512_mask_storeu_ps(out + n * ldo + (K - 1) * kLanes, last, acc[n * K + K - 1]);
  }
}

// All N rows for 16*K columns: passes of up to kPassRows rows over the same block of weights.
template <int N, int K>
void in_out_rows(const float* w, int64_t in, int64_t ldw, const float* x, int64_t ldi, const float* b, float* out,
                 int64_t ldo, __mmask16 last) {
  in_out_block<std::min(N, kPassRows), K>(w, in, ldw, x, ldi, b, out, ldo, last);
  if constexpr (N > kPassRows)
    in_out_block<N - kPassRows, K>(w, in, ldw, x + kPassRows * ldi, ldi, b, out + kPassRows * ldo, ldo, last);
}

template <int N, int... K>
void in_out_dispatch(int n_k, std::integer_sequence<int, K...>, const float* w, int64_t in, int64_t ldw, const float* x,
                     int64_t ldi, const float* b, float* out, int64_t ldo, __mmask16 last) {
  ((n_k == K + 1 ? in_out_rows<N, K + 1>(w, in, ldw, x, ldi, b, out, ldo, last) : void()), ...);
}

template <int N>
void in_out(const model::Linear& lin, float* out, int64_t ldo, const float* x, int64_t ldi, bool parallel) {
  constexpr int64_t kCols = int64_t{kColVecs[std::min(N, kPassRows)]} * kLanes;
  const int64_t n_out = lin.out, n_blocks = (n_out + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kCols, nc = std::min(kCols, n_out - c0);
    const auto n_k = static_cast<int>((nc + kLanes - 1) / kLanes);
    const __mmask16 last = tail_mask(nc - (n_k - 1) * kLanes);
    const float* b = lin.b ? lin.b + c0 : nullptr;
    in_out_dispatch<N>(n_k, std::make_integer_sequence<int, kMaxColVecs>{}, lin.w + c0, lin.in, n_out, x, ldi, b,
                       out + c0, ldo, last);
  }
}

template <int N>
void run(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, bool parallel) {
  if (lin.layout == model::WeightLayout::kOutIn) out_in<N>(lin, out, ldo, inp, ldi, parallel);
  else in_out<N>(lin, out, ldo, inp, ldi, parallel);
}

template <int... N>
void run_rows(int64_t n_rows, std::integer_sequence<int, N...>, const model::Linear& lin, float* out, int64_t ldo,
              const float* inp, int64_t ldi, bool parallel) {
  ((n_rows == N + 1 ? run<N + 1>(lin, out, ldo, inp, ldi, parallel) : void()), ...);
}

#else  // portable loops: one accumulator per (row, output) too, so rows stay independent of N

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

constexpr int64_t kColBlock = 256;

void run_portable(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N,
                  bool parallel) {
  const int64_t in = lin.in, n_out = lin.out;
  const float* w = lin.w;
  const float* b = lin.b;
  if (lin.layout == model::WeightLayout::kOutIn) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < n_out; ++o) {
      const float* wo = w + o * in;
      for (int64_t n = 0; n < N; ++n) out[n * ldo + o] = dot(wo, inp + n * ldi, in) + (b ? b[o] : 0.0f);
    }
    return;
  }
  const int64_t n_blocks = (n_out + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kColBlock, nc = std::min(kColBlock, n_out - c0);
    for (int64_t n = 0; n < N; ++n) {
      float* y = out + n * ldo + c0;
      const float* x = inp + n * ldi;
      for (int64_t c = 0; c < nc; ++c) y[c] = b ? b[c0 + c] : 0.0f;
      for (int64_t i = 0; i < in; ++i) {
        const float xi = x[i];
        const float* wi = w + i * n_out + c0;
#pragma omp simd
        for (int64_t c = 0; c < nc; ++c) y[c] += xi * wi[c];
      }
    }
  }
}

#endif

}  // namespace

void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N) {
  ANVIL_CHECK(N >= 1 && N <= kSmallLinearMaxRows, "small_linear: {} rows", N);
  const bool parallel = lin.in * lin.out >= kParallelMinWeights;
#if defined(__AVX512F__)
  run_rows(N, std::make_integer_sequence<int, kSmallLinearMaxRows>{}, lin, out, ldo, inp, ldi, parallel);
#else
  run_portable(lin, out, ldo, inp, ldi, N, parallel);
#endif
}

}  // namespace anvil::infer
