// Reference causal attention (GQA, HF sliding window, ALiBi): the oracle for the flash-style kernels.
// Materialises each query's score row in double; backward recomputes P and applies the textbook
// gradients (docs/kernels/attention.md): dV = P^T dO, dP = dO V^T, dS = P o (dP - rowsum(dO o O)),
// dQ = scale dS K, dK = scale dS^T Q. Attention dropout multiplies P by z = keep/(1-p) where it meets V
// (o = sum_j P z v_j, dV = (P z)^T dO, dP = z dO V^T), keep bits from dropout_hash.h at index
// ((b*H + h)*T + i)*T + j.
#include <cmath>
#include <vector>

#include "anvil/kernels/dropout_hash.h"
#include "anvil/kernels/ref/ref.h"

namespace anvil::ref {
namespace {

struct Geometry {
  int64_t qs, ks, vs;  // row strides
  int64_t group;       // H / Hkv
  double scale;
};

Geometry geometry(const AttentionDims& d) {
  return Geometry{.qs = d.q_row_stride ? d.q_row_stride : d.H * d.D,
                  .ks = d.k_row_stride ? d.k_row_stride : d.Hkv * d.D,
                  .vs = d.v_row_stride ? d.v_row_stride : d.Hkv * d.D,
                  .group = d.H / d.Hkv,
                  .scale = d.scale != 0.0f ? d.scale : 1.0 / std::sqrt(static_cast<double>(d.D))};
}

// First visible key of query i (keys first_key(i)..i are visible).
int64_t first_key(const AttentionDims& d, int64_t i) { return d.window > 0 ? std::max<int64_t>(0, i - d.window + 1) : 0; }

// Dropout multiplier of P(b, h, i, j): 1/(1-p) when kept, 0 when dropped, 1 without dropout.
double drop_factor(const AttentionDims& d, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (d.dropout_p <= 0.0f) return 1.0;
  const uint64_t idx = static_cast<uint64_t>(((b * d.H + h) * d.T + i) * d.T + j);
  const bool keep = kernels_detail::dropout_keep(d.dropout_seed, idx, kernels_detail::dropout_threshold(d.dropout_p));
  return keep ? 1.0 / (1.0 - static_cast<double>(d.dropout_p)) : 0.0;
}

// Probabilities P(i, j) for j in [j0, i] of head h of batch b, in double; returns lse.
double probs(const AttentionDims& d, const Geometry& g, const float* q, const float* k, int64_t b, int64_t h,
             int64_t i, std::vector<double>& p) {
  const int64_t hk = h / g.group, j0 = first_key(d, i);
  const float* qi = q + (b * d.T + i) * g.qs + h * d.D;
  p.assign(static_cast<size_t>(i - j0 + 1), 0.0);
  double mx = -INFINITY;
  for (int64_t j = j0; j <= i; ++j) {
    const float* kj = k + (b * d.T + j) * g.ks + hk * d.D;
    double s = 0.0;
    for (int64_t e = 0; e < d.D; ++e) s += static_cast<double>(qi[e]) * kj[e];
    s *= g.scale;
    if (d.alibi_slopes) s += static_cast<double>(d.alibi_slopes[h]) * static_cast<double>(j - i);
    p[j - j0] = s;
    mx = std::max(mx, s);
  }
  double sum = 0.0;
  for (double& x : p) sum += x = std::exp(x - mx);
  for (double& x : p) x /= sum;
  return mx + std::log(sum);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& d) {
  const Geometry g = geometry(d);
  std::vector<double> p, o(static_cast<size_t>(d.D));
  for (int64_t b = 0; b < d.B; ++b) {
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t hk = h / g.group;
      for (int64_t i = 0; i < d.T; ++i) {
        lse[(b * d.H + h) * d.T + i] = static_cast<float>(probs(d, g, q, k, b, h, i, p));
        const int64_t j0 = first_key(d, i);
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = j0; j <= i; ++j) {
          const float* vj = v + (b * d.T + j) * g.vs + hk * d.D;
          const double pz = p[j - j0] * drop_factor(d, b, h, i, j);
          for (int64_t e = 0; e < d.D; ++e) o[e] += pz * vj[e];
        }
        float* oi = out + ((b * d.T + i) * d.H + h) * d.D;
        for (int64_t e = 0; e < d.D; ++e) oi[e] = static_cast<float>(o[e]);
      }
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const float* q, const float* k, const float* v, const AttentionDims& d) {
  const Geometry g = geometry(d);
  const int64_t D = d.D;
  // Double accumulators for this call's own elements, written to the strided outputs at the end.
  std::vector<double> gq(static_cast<size_t>(d.B * d.T * d.H * D), 0.0);
  std::vector<double> gk(static_cast<size_t>(d.B * d.T * d.Hkv * D), 0.0);
  std::vector<double> gv(gk.size(), 0.0);
  std::vector<double> p, dp;
  for (int64_t b = 0; b < d.B; ++b) {
    for (int64_t h = 0; h < d.H; ++h) {
      const int64_t hk = h / g.group;
      for (int64_t i = 0; i < d.T; ++i) {
        probs(d, g, q, k, b, h, i, p);
        const int64_t j0 = first_key(d, i);
        const float* doi = dout + ((b * d.T + i) * d.H + h) * D;
        const float* qi = q + (b * d.T + i) * g.qs + h * D;
        dp.assign(p.size(), 0.0);
        double delta = 0.0;
        for (int64_t j = j0; j <= i; ++j) {
          const float* vj = v + (b * d.T + j) * g.vs + hk * D;
          double s = 0.0;
          for (int64_t e = 0; e < D; ++e) s += static_cast<double>(doi[e]) * vj[e];
          dp[j - j0] = s * drop_factor(d, b, h, i, j);
          delta += p[j - j0] * dp[j - j0];
        }
        for (int64_t j = j0; j <= i; ++j) {
          const double pj = p[j - j0], ds = pj * (dp[j - j0] - delta) * g.scale;
          const double pz = pj * drop_factor(d, b, h, i, j);
          const float* kj = k + (b * d.T + j) * g.ks + hk * D;
          double* gqi = &gq[((b * d.T + i) * d.H + h) * D];
          double* gkj = &gk[((b * d.T + j) * d.Hkv + hk) * D];
          double* gvj = &gv[((b * d.T + j) * d.Hkv + hk) * D];
          for (int64_t e = 0; e < D; ++e) {
            gqi[e] += ds * kj[e];
            gkj[e] += ds * qi[e];
            gvj[e] += pz * doi[e];
          }
        }
      }
    }
  }
  for (int64_t r = 0; r < d.B * d.T; ++r) {
    for (int64_t e = 0; e < d.H * D; ++e) dq[r * g.qs + e] = static_cast<float>(gq[r * d.H * D + e]);
    for (int64_t e = 0; e < d.Hkv * D; ++e) {
      dk[r * g.ks + e] = static_cast<float>(gk[r * d.Hkv * D + e]);
      dv[r * g.vs + e] = static_cast<float>(gv[r * d.Hkv * D + e]);
    }
  }
}

}  // namespace anvil::ref
