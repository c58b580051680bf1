// packed_linear (see packed_linear.h) over packed panels. One pass of a panel for up to 8 rows keeps 8 x 3
// zmm accumulators (the 48 outputs of each row); per input feature i it loads the panel's row i (three
// aligned vectors, 192 contiguous bytes) once and FMAs it with each row's x[n][i] broadcast: no horizontal
// sums, and the weights arrive as one forward stream that the prefetch ahead of it keeps in flight (this
// layout decodes 8 rows ~1.7x faster than dot products over (out, in) rows, which stream O rows at once and
// pay a reduction per output; 1 row ~1.2x). Rows 9..16 are a second pass over the same panel, now in L1/L2;
// more rows walk it in blocks of 16. Threads split the panels (kParallelMinWork), all the linears of one
// call in one OpenMP region, and the fused epilogues (residual add, SwiGLU) run on each thread's own
// outputs in ops::add's/swiglu's arithmetic.
#include "anvil/infer/packed_linear.h"

#include <omp.h>

#include <algorithm>
#include <utility>

#include "anvil/base/check.h"
#include "anvil/kernels/cpu/simd.h"
#include "anvil/kernels/ops.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace anvil::infer {

PackedLinear::PackedLinear(const model::Linear& lin) : in_(lin.in), out_(lin.out) {
  ANVIL_CHECK(lin.w != nullptr && lin.in > 0 && lin.out > 0, "PackedLinear: an empty linear ({} x {})", lin.in,
              lin.out);
  const int64_t cols = n_panels() * kPanelCols;
  auto alloc = [](int64_t n_floats) { return Storage::allocate(static_cast<size_t>(n_floats) * sizeof(float)); };
  w_ = alloc(in_ * cols);
  const bool out_in = lin.layout == model::WeightLayout::kOutIn;
  const int64_t in = in_, out = out_;
  float* w = floats(w_);
  // The storage comes zero-filled, so the last panel's padding is already 0. Serial on purpose: an OpenMP
  // region here would leave an idle thread pool in the (loading) thread, and libgomp throttles every
  // pool's spin-waits once it manages more threads than cores.
  for (int64_t p = 0; p < n_panels(); ++p) {
    float* dst = w + p * in * kPanelCols;
    const int64_t o0 = p * kPanelCols, n_cols = std::min(kPanelCols, out - o0);
    if (out_in) {  // 48 weight rows read side by side, i by i (each stays in L1 for its next values)
      const float* rows[kPanelCols];
      for (int64_t c = 0; c < n_cols; ++c) rows[c] = lin.w + (o0 + c) * in;
      for (int64_t i = 0; i < in; ++i)
        for (int64_t c = 0; c < n_cols; ++c) dst[i * kPanelCols + c] = rows[c][i];
    } else {  // row i of the panel is 48 consecutive values of W's row i
      for (int64_t i = 0; i < in; ++i) std::copy_n(lin.w + i * out + o0, n_cols, dst + i * kPanelCols);
    }
  }
  if (lin.b) {
    b_ = alloc(cols);
    std::copy_n(lin.b, out, floats(b_));
  }
}

namespace {

constexpr int64_t kParallelMinWork = int64_t{1} << 15;  // multiply-adds (weights x rows) of a serial call
constexpr int kPassRows = 8;    // rows one pass over a panel serves
constexpr int kBlockRows = 16;  // rows per walk over a panel (two passes)

#if defined(__AVX512F__)

constexpr int kLanes = 16;
constexpr int kVecs = kPanelCols / kLanes;
static_assert(kVecs * kLanes == kPanelCols);
// The panel rows this many floats (8 KiB) ahead are prefetched, every cache line of them: about a DRAM
// latency's worth of streaming at two threads' bandwidth (measured: 8 KiB beat 4 KiB and 16 KiB).
constexpr int64_t kPrefetchFloats = 2048;

// out[n][c] = b[c] + sum_i x[n][i] w[i][c] (kAdd: out[n][c] += that) for the c < n_cols <= 48 columns
// of one panel `w` (in, 48) and the N <= kPassRows rows of x.
template <int N, bool kPrefetch, bool kAdd>
void panel_pass(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
                int64_t n_cols) {
  __m512 acc[N * kVecs];  // acc[n * kVecs + k]: row n, columns 16k..16k+15
#pragma GCC unroll 4
  for (int k = 0; k < kVecs; ++k) {
    const __m512 bv = b ? _mm512_load_ps(b + k * kLanes) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int n = 0; n < N; ++n) acc[n * kVecs + k] = bv;
  }
  for (int64_t i = 0; i < in; ++i) {
    const float* wi = w + i * kPanelCols;
    __m512 wv[kVecs];
#pragma GCC unroll 4
    for (int k = 0; k < kVecs; ++k) {
      if constexpr (kPrefetch)
        _mm_prefetch(reinterpret_cast<const char*>(wi + kPrefetchFloats + k * kLanes), _MM_HINT_T0);
      wv[k] = _mm512_load_ps(wi + k * kLanes);
    }
#pragma GCC unroll 8
    for (int n = 0; n < N; ++n) {
      const __m512 xb = _mm512_set1_ps(x[n * ldi + i]);
#pragma GCC unroll 4
      for (int k = 0; k < kVecs; ++k) acc[n * kVecs + k] = _mm512_fmadd_ps(wv[k], xb, acc[n * kVecs + k]);
    }
  }
#pragma GCC unroll 4
  for (int k = 0; k < kVecs; ++k) {
    const int64_t c0 = k * kLanes;
    if (c0 >= n_cols) break;
    const auto m = static_cast<__mmask16>(n_cols - c0 >= kLanes ? 0xFFFFu : (1u << (n_cols - c0)) - 1u);
#pragma GCC unroll 8
    for (int n = 0; n < N; ++n) {
      float* y = out + n * ldo + c0;
      __m512 v = acc[n * kVecs + k];
      if constexpr (kAdd) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), v);
      _mm512_mask_storeu_ps(y, m, v);
    }
  }
}

// N <= kBlockRows rows of one panel: passes of up to kPassRows rows, the first streaming (and prefetching) it.
template <int N, bool kAdd>
void panel_rows(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
                int64_t n_cols) {
  panel_pass<std::min(N, kPassRows), true, kAdd>(w, in, x, ldi, b, out, ldo, n_cols);
  if constexpr (N > kPassRows)
    panel_pass<N - kPassRows, false, kAdd>(w, in, x + kPassRows * ldi, ldi, b, out + kPassRows * ldo, ldo, n_cols);
}

template <bool kAdd, int... N>
void panel_dispatch(int64_t n_rows, std::integer_sequence<int, N...>, const float* w, int64_t in, const float* x,
                    int64_t ldi, const float* b, float* out, int64_t ldo, int64_t n_cols) {
  ((n_rows == N + 1 ? panel_rows<N + 1, kAdd>(w, in, x, ldi, b, out, ldo, n_cols) : void()), ...);
}

// All N rows of one panel, in blocks of kBlockRows.
template <bool kAdd>
void panel(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
           int64_t N, int64_t n_cols) {
  for (int64_t m0 = 0; m0 < N; m0 += kBlockRows)
    panel_dispatch<kAdd>(std::min<int64_t>(kBlockRows, N - m0), std::make_integer_sequence<int, kBlockRows>{}, w, in,
                         x + m0 * ldi, ldi, b, out + m0 * ldo, ldo, n_cols);
}

#else  // portable loops, the same per-(row, output) order: b, then + x[n][i] w[i][c] for i = 0, 1, ...

template <bool kAdd>
void panel(const float* w, int64_t in, const float* x, int64_t ldi, const float* b, float* out, int64_t ldo,
           int64_t N, int64_t n_cols) {
  for (int64_t n = 0; n < N; ++n) {
    float acc[kPanelCols];
    for (int64_t c = 0; c < kPanelCols; ++c) acc[c] = b ? b[c] : 0.0f;
    const float* xn = x + n * ldi;
    for (int64_t i = 0; i < in; ++i) {
      const float xi = xn[i];
      const float* wi = w + i * kPanelCols;
#pragma omp simd
      for (int64_t c = 0; c < kPanelCols; ++c) acc[c] += wi[c] * xi;
    }
    float* y = out + n * ldo;
    for (int64_t c = 0; c < n_cols; ++c) y[c] = kAdd ? y[c] + acc[c] : acc[c];
  }
}

#endif

// Panels [p_begin, p_end) of lin for all N rows, `out` pointing at the first panel's column 0 of row 0.
template <bool kAdd>
void panel_range(const PackedLinear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N,
                 int64_t p_begin, int64_t p_end) {
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t c0 = p * kPanelCols;
    const float* b = lin.bias() ? lin.bias() + c0 : nullptr;
    panel<kAdd>(lin.panel(p), lin.in(), inp, ldi, b, out + (c0 - p_begin * kPanelCols), ldo, N,
                std::min(kPanelCols, lin.out() - c0));
  }
}

// Work split: each thread takes the panels whose first weight lies in its equal share of all the weights
// of the call (the linears' panels laid end to end), so threads stream equal bytes.
struct Share {
  int64_t lo, hi;  // this thread's weight floats [lo, hi) of the call
};

Share thread_share(int64_t total) {
  const int64_t n_threads = omp_get_num_threads(), t = omp_get_thread_num();
  return {total * t / n_threads, total * (t + 1) / n_threads};
}

int64_t panel_floats(const PackedLinear& lin) { return lin.in() * kPanelCols; }
int64_t total_floats(const PackedLinear& lin) { return lin.n_panels() * panel_floats(lin); }

// The panels [begin, end) of the linear starting at weight float `at` whose first weight lies in `share`.
struct Span {
  int64_t begin, end;
};
Span span_of(const PackedLinear& lin, int64_t at, Share share) {
  const int64_t c = panel_floats(lin), n = lin.n_panels();
  auto first_panel_from = [&](int64_t f) { return f <= at ? 0 : std::min(n, (f - at + c - 1) / c); };
  return {first_panel_from(share.lo), first_panel_from(share.hi)};
}

// out = silu(g) * u over n <= kPanelCols values: ops::swiglu_forward's arithmetic (g / (1 + exp(-g)) * u,
// exp from simd.h), element by element.
void swiglu(float* out, const float* g, const float* u, int64_t n) {
  float e[kPanelCols];
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) e[i] = -g[i];
  ops::simd::exp_inplace(e, n);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + e[i]) * u[i];
}

void check_rows(int64_t N, const char* op) { ANVIL_CHECK(N >= 1, "{}: {} rows", op, N); }

// A fused MLP's two halves in one parallel region. First each thread fills act's columns of its share of
// the first half's n_panels panels (equal weights each; first_floats = all of that half's weights):
// act_panel(p, m0, rows) computes panel p's columns of act rows [m0, m0 + rows), at most kBlockRows of
// them. Then, once every act row is complete (a barrier), x += act @ down over the threads' shares of down.
template <typename ActPanel>
void fused_mlp(int64_t n_panels, int64_t first_floats, const PackedLinear& down, const MlpRows& r,
               ActPanel act_panel) {
  const int64_t down_total = total_floats(down);
#pragma omp parallel if ((first_floats + down_total) * r.N >= kParallelMinWork)
  {
    const int64_t n_threads = omp_get_num_threads(), t = omp_get_thread_num();
    for (int64_t p = n_panels * t / n_threads; p < n_panels * (t + 1) / n_threads; ++p)
      for (int64_t m0 = 0; m0 < r.N; m0 += kBlockRows) act_panel(p, m0, std::min<int64_t>(kBlockRows, r.N - m0));
#pragma omp barrier
    const Span s = span_of(down, 0, thread_share(down_total));
    if (s.begin < s.end) panel_range<true>(down, r.x + s.begin * kPanelCols, r.ldx, r.act, r.lda, r.N, s.begin, s.end);
  }
}

}  // namespace

void packed_linears(std::span<const LinearOutput> outs, const float* inp, int64_t ldi, int64_t N) {
  check_rows(N, "packed_linears");
  int64_t total = 0;
  for (const LinearOutput& o : outs) total += total_floats(*o.lin);
#pragma omp parallel if (total * N >= kParallelMinWork)
  {
    const Share share = thread_share(total);
    int64_t at = 0;
    for (const LinearOutput& o : outs) {
      const Span s = span_of(*o.lin, at, share);
      if (s.begin < s.end)
        panel_range<false>(*o.lin, o.out + s.begin * kPanelCols, o.ldo, inp, ldi, N, s.begin, s.end);
      at += total_floats(*o.lin);
    }
  }
}

void packed_linear(const PackedLinear& lin, float* out, int64_t ldo, const float* inp, int64_t ldi, int64_t N) {
  const LinearOutput o{.lin = &lin, .out = out, .ldo = ldo};
  packed_linears(std::span<const LinearOutput>(&o, 1), inp, ldi, N);
}

void packed_linear_add(const PackedLinear& lin, float* x, int64_t ldx, const float* inp, int64_t ldi, int64_t N) {
  check_rows(N, "packed_linear_add");
  const int64_t total = total_floats(lin);
#pragma omp parallel if (total * N >= kParallelMinWork)
  {
    const Span s = span_of(lin, 0, thread_share(total));
    if (s.begin < s.end) panel_range<true>(lin, x + s.begin * kPanelCols, ldx, inp, ldi, N, s.begin, s.end);
  }
}

void packed_swiglu_mlp(const SwigluMlp& m) {
  const MlpRows& r = m.rows;
  check_rows(r.N, "packed_swiglu_mlp");
  const int64_t C = m.gate.in(), F = m.gate.out();
  ANVIL_CHECK(m.up.in() == C && m.up.out() == F && m.down.in() == F,
              "packed_swiglu_mlp: gate ({}, {}), up ({}, {}), down ({}, {}) do not chain", C, F, m.up.in(), m.up.out(),
              m.down.in(), m.down.out());
  fused_mlp(m.gate.n_panels(), 2 * total_floats(m.gate), m.down, r, [&](int64_t p, int64_t m0, int64_t rows) {
    float g[kBlockRows * kPanelCols], u[kBlockRows * kPanelCols];
    const int64_t f0 = p * kPanelCols, nf = std::min(kPanelCols, F - f0);
    const float* inp = r.inp + m0 * r.ldi;
    panel_range<false>(m.gate, g, kPanelCols, inp, r.ldi, rows, p, p + 1);
    panel_range<false>(m.up, u, kPanelCols, inp, r.ldi, rows, p, p + 1);
    for (int64_t n = 0; n < rows; ++n) swiglu(r.act + (m0 + n) * r.lda + f0, g + n * kPanelCols, u + n * kPanelCols, nf);
  });
}

void packed_gelu_mlp(const GeluMlp& m) {
  const MlpRows& r = m.rows;
  check_rows(r.N, "packed_gelu_mlp");
  const int64_t F = m.up.out();
  ANVIL_CHECK(m.down.in() == F, "packed_gelu_mlp: up ({}, {}), down ({}, {}) do not chain", m.up.in(), F,
              m.down.in(), m.down.out());
  fused_mlp(m.up.n_panels(), total_floats(m.up), m.down, r, [&](int64_t p, int64_t m0, int64_t rows) {
    float h[kBlockRows * kPanelCols];
    const int64_t f0 = p * kPanelCols, nf = std::min(kPanelCols, F - f0);
    panel_range<false>(m.up, h, kPanelCols, r.inp + m0 * r.ldi, r.ldi, rows, p, p + 1);
    for (int64_t n = 0; n < rows; ++n)
      ops::gelu_forward_serial(r.act + (m0 + n) * r.lda + f0, h + n * kPanelCols, nf, m.approx);
  });
}

const char* packed_linear_kernel() {
#if defined(__AVX512F__)
  return "avx512";
#else
  return "portable";
#endif
}

}  // namespace anvil::infer
