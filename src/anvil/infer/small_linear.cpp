// small_linear (see small_linear.h), register-blocked so one pass over the weights serves all N rows.
// nn.Linear (out, in): a group of O outputs x N rows keeps O*N zmm accumulators; each 16-float slice of
// the O weight rows is loaded once and FMAed with the N input slices (masked tail), then reduced.
// Conv1D (in, out): a block of 16*K columns x N rows stays in N*K zmm accumulators over the i loop
// (one weight load per 16 columns, x[n][i] broadcast). Rows beyond one pass (kOutPassRows, kPassRows) run
// as further passes over the same weights while they are cache-hot (one stream from memory for up to 16
// rows). Batch invariance: every (row, output) has its own accumulator, fed in i order, reduced by the same
// tree, so a row's result does not depend on N, on the blocking, on the pass or on the other rows. Threads
// split output features (kParallelMinWeights), all the linears of one call in one OpenMP region, and the
// fused epilogues (residual add, SwiGLU) run on each thread's own outputs in ops::add's/swiglu's arithmetic.
// GCC 12 flags the _mm512_undefined_ps() inside its own shuffle/permute intrinsics as (maybe) uninitialised
// (GCC PR 105593); the pragma precedes every include so it covers immintrin.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "anvil/infer/small_linear.h"

#include <omp.h>

#include <algorithm>
#include <utility>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/simd.h"

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

// Outputs [o_begin, o_end) of lin for all N rows, `out` pointing at output o_begin of row 0; groups of O from
// o_begin (ranges start at multiples of O, so only lin's last group can be short: it is done as groups of 4, 2
// and 1, the same arithmetic per output).
template <int N>
void out_in(const model::Linear& lin, float* out, int64_t ldo, const float* x, int64_t ldi, int64_t o_begin,
            int64_t o_end) {
  constexpr int P = std::min(N, kOutPassRows), O = kOutGroup[P];
  const int64_t in = lin.in;
  const int64_t group_floats = O * in, pf = std::max<int64_t>(1, kPrefetchFloats / group_floats) * group_floats;
  for (int64_t o0 = o_begin; o0 < o_end;) {
    const int64_t left = o_end - o0;
    const float* w = lin.w + o0 * in;
    const float* b = lin.b ? lin.b + o0 : nullptr;
    float* y = out + (o0 - o_begin);
    if (left >= O) out_in_rows<N, O, P>(w, in, x, ldi, b, y, ldo, pf), o0 += O;
    else if (left >= 4) out_in_rows<N, 4, P>(w, in, x, ldi, b, y, ldo, pf), o0 += 4;
    else if (left >= 2) out_in_rows<N, 2, P>(w, in, x, ldi, b, y, ldo, pf), o0 += 2;
    else out_in_rows<N, 1, P>(w, in, x, ldi, b, y, ldo, pf), o0 += 1;
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

// Columns [c_begin, c_end) of lin for all N rows (`out` at column c_begin), in blocks of 16*K columns.
template <int N>
void in_out(const model::Linear& lin, float* out, int64_t ldo, const float* x, int64_t ldi, int64_t c_begin,
            int64_t c_end) {
  constexpr int64_t kCols = int64_t{kColVecs[std::min(N, kPassRows)]} * kLanes;
  for (int64_t c0 = c_begin; c0 < c_end; c0 += kCols) {
    const int64_t nc = std::min(kCols, c_end - c0);
    const auto n_k = static_cast<int>((nc + kLanes - 1) / kLanes);
    const __mmask16 last = tail_mask(nc - (n_k - 1) * kLanes);
    const float* b = lin.b ? lin.b + c0 : nullptr;
    in_out_dispatch<N>(n_k, std::make_integer_sequence<int, kMaxColVecs>{}, lin.w + c0, lin.in, lin.out, x, ldi, b,
                       out + (c0 - c_begin), ldo, last);
  }
}

template <int N>
void run(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t o_begin,
         int64_t o_end) {
  if (lin.layout == model::WeightLayout::kOutIn) out_in<N>(lin, out, ldo, inp, ldi, o_begin, o_end);
  else in_out<N>(lin, out, ldo, inp, ldi, o_begin, o_end);
}

template <int... N>
void run_rows(int64_t n_rows, std::integer_sequence<int, N...>, const model::Linear& lin, float* out, int64_t ldo,
              const float* inp, int64_t ldi, int64_t o_begin, int64_t o_end) {
  ((n_rows == N + 1 ? run<N + 1>(lin, out, ldo, inp, ldi, o_begin, o_end) : void()), ...);
}

// Outputs per work unit (a register-blocked group or column block) for N rows.
int64_t unit_outputs(model::WeightLayout layout, int64_t N) {
  if (layout == model::WeightLayout::kOutIn) return kOutGroup[std::min<int64_t>(N, kOutPassRows)];
  return int64_t{kColVecs[std::min<int64_t>(N, kPassRows)]} * kLanes;
}

// Outputs [o_begin, o_end) of every row n < N: out[n * ldo + o - o_begin].
void linear_range(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N,
                  int64_t o_begin, int64_t o_end) {
  run_rows(N, std::make_integer_sequence<int, kSmallLinearMaxRows>{}, lin, out, ldo, inp, ldi, o_begin, o_end);
}

#else  // portable loops: one accumulator per (row, output) too, so rows stay independent of N

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

constexpr int64_t kColBlock = 256;

int64_t unit_outputs(model::WeightLayout layout, int64_t) {
  return layout == model::WeightLayout::kOutIn ? 1 : kColBlock;
}

void linear_range(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N,
                  int64_t o_begin, int64_t o_end) {
  const int64_t in = lin.in, n_out = lin.out;
  const float* w = lin.w;
  const float* b = lin.b;
  if (lin.layout == model::WeightLayout::kOutIn) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      const float* wo = w + o * in;
      for (int64_t n = 0; n < N; ++n) out[n * ldo + o - o_begin] = dot(wo, inp + n * ldi, in) + (b ? b[o] : 0.0f);
    }
    return;
  }
  for (int64_t c0 = o_begin; c0 < o_end; c0 += kColBlock) {
    const int64_t nc = std::min(kColBlock, o_end - c0);
    for (int64_t n = 0; n < N; ++n) {
      float* y = out + n * ldo + (c0 - o_begin);
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

// Work split: each thread takes the units (unit_outputs() outputs each) whose first weight lies in its
// equal share of all the weights of the call (the linears laid end to end), so threads stream equal bytes.
struct Share {
  int64_t lo, hi;  // this thread's weight floats [lo, hi) of the call
};

Share thread_share(int64_t total) {
  const int64_t n_threads = omp_get_num_threads(), t = omp_get_thread_num();
  return {total * t / n_threads, total * (t + 1) / n_threads};
}

int64_t unit_floats(const model::Linear& lin, int64_t N) { return unit_outputs(lin.layout, N) * lin.in; }
int64_t n_units(const model::Linear& lin, int64_t N) {
  const int64_t u = unit_outputs(lin.layout, N);
  return (lin.out + u - 1) / u;
}

// The outputs [begin, end) of the linear starting at weight float `at` whose units start inside `share`.
struct Span {
  int64_t begin, end;
};
Span span_of(const model::Linear& lin, int64_t N, int64_t at, Share share) {
  const int64_t c = unit_floats(lin, N), u = unit_outputs(lin.layout, N), n = n_units(lin, N);
  auto first_unit_from = [&](int64_t f) { return f <= at ? 0 : std::min(n, (f - at + c - 1) / c); };
  return {std::min(lin.out, first_unit_from(share.lo) * u), std::min(lin.out, first_unit_from(share.hi) * u)};
}

constexpr int64_t kEpilogueCols = 128;  // outputs per stack tile of small_linear_add
constexpr int64_t kActBlock = 32;       // gate/up outputs per SwiGLU work unit (a multiple of every kOutGroup)

// x[n][o] += (inp W + b)[n][o] for o in [o_begin, o_end): ops::add's x + proj, tile by tile.
void add_range(const model::Linear& lin, float* x, int64_t ldx, const float* inp, int64_t ldi, int64_t N,
               int64_t o_begin, int64_t o_end) {
  float tile[kSmallLinearMaxRows * kEpilogueCols];
  for (int64_t o0 = o_begin; o0 < o_end; o0 += kEpilogueCols) {
    const int64_t n_cols = std::min(kEpilogueCols, o_end - o0);
    linear_range(lin, tile, kEpilogueCols, inp, ldi, N, o0, o0 + n_cols);
    for (int64_t n = 0; n < N; ++n) {
      float* xr = x + n * ldx + o0;
      const float* p = tile + n * kEpilogueCols;
#pragma omp simd
      for (int64_t c = 0; c < n_cols; ++c) xr[c] = xr[c] + p[c];
    }
  }
}

// out = silu(g) * u over n <= kActBlock values: ops::swiglu_forward's arithmetic (g / (1 + exp(-g)) * u,
// exp from simd.h), element by element.
void swiglu(float* out, const float* g, const float* u, int64_t n) {
  float e[kActBlock];
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) e[i] = -g[i];
  ops::simd::exp_inplace(e, n);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + e[i]) * u[i];
}

void check_rows(int64_t N, const char* op) { ANVIL_CHECK(N >= 1 && N <= kSmallLinearMaxRows, "{}: {} rows", op, N); }

}  // namespace

void small_linears(std::span<const LinearOutput> outs, const float* inp, int64_t ldi, int64_t N) {
  check_rows(N, "small_linears");
  int64_t total = 0, n_weights = 0;
  for (const LinearOutput& o : outs)
    total += n_units(*o.lin, N) * unit_floats(*o.lin, N), n_weights += o.lin->in * o.lin->out;
#pragma omp parallel if (n_weights >= kParallelMinWeights)
  {
    const Share share = thread_share(total);
    int64_t at = 0;
    for (const LinearOutput& o : outs) {
      const Span s = span_of(*o.lin, N, at, share);
      if (s.begin < s.end) linear_range(*o.lin, o.out + s.begin, o.ldo, inp, ldi, N, s.begin, s.end);
      at += n_units(*o.lin, N) * unit_floats(*o.lin, N);
    }
  }
}

void small_linear(const model::Linear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N) {
  const LinearOutput o{.lin = &lin, .out = out, .ldo = ldo};
  small_linears(std::span<const LinearOutput>(&o, 1), inp, ldi, N);
}

void small_linear_add(const model::Linear& lin, float* x, int64_t ldx, const float* inp, int64_t ldi, int64_t N) {
  check_rows(N, "small_linear_add");
  const int64_t total = n_units(lin, N) * unit_floats(lin, N);
#pragma omp parallel if (lin.in * lin.out >= kParallelMinWeights)
  {
    const Span s = span_of(lin, N, 0, thread_share(total));
    add_range(lin, x, ldx, inp, ldi, N, s.begin, s.end);
  }
}

void small_swiglu_mlp(const SwigluMlp& m) {
  check_rows(m.N, "small_swiglu_mlp");
  const int64_t C = m.gate.in, F = m.gate.out, N = m.N;
  ANVIL_CHECK(m.up.in == C && m.up.out == F && m.up.layout == m.gate.layout && m.down.in == F,
              "small_swiglu_mlp: gate ({}, {}), up ({}, {}), down ({}, {}) do not chain", C, F, m.up.in, m.up.out,
              m.down.in, m.down.out);
  const int64_t n_blocks = (F + kActBlock - 1) / kActBlock, down_total = n_units(m.down, N) * unit_floats(m.down, N);
#pragma omp parallel if (2 * C * F + m.down.in * m.down.out >= kParallelMinWeights)
  {
    // gate/up blocks (equal weights each), then, once every act row is complete, down's outputs.
    const int64_t n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    float g[kSmallLinearMaxRows * kActBlock], u[kSmallLinearMaxRows * kActBlock];
    for (int64_t blk = n_blocks * t / n_threads; blk < n_blocks * (t + 1) / n_threads; ++blk) {
      const int64_t f0 = blk * kActBlock, nf = std::min(kActBlock, F - f0);
      linear_range(m.gate, g, kActBlock, m.inp, m.ldi, N, f0, f0 + nf);
      linear_range(m.up, u, kActBlock, m.inp, m.ldi, N, f0, f0 + nf);
      for (int64_t n = 0; n < N; ++n) swiglu(m.act + n * m.lda + f0, g + n * kActBlock, u + n * kActBlock, nf);
    }
#pragma omp barrier
    const Span s = span_of(m.down, N, 0, thread_share(down_total));
    add_range(m.down, m.x, m.ldx, m.act, m.lda, N, s.begin, s.end);
  }
}

}  // namespace anvil::infer
