// Reference GEMM, element-wise ops, activations, normalisations, softmax and cross-entropy: the oracle
// for anvil::ops. Plain loops in the order the formulas are written, accumulating in double.
// Formulas: llm.c train_gpt2.c (layernorm, gelu), HF/torch (gelu_new, SiLU, RMSNorm), spec 2.4 (CE).
#include <cmath>
#include <vector>

#include "anvil/base/check.h"
#include "anvil/kernels/ref/ref.h"

namespace anvil::ref {
namespace {

// Element (r, c) of op(X) for X stored row-major with row stride ld.
template <typename T>
T at(const T* x, Transpose t, int64_t ld, int64_t r, int64_t c) {
  return t == Transpose::kNo ? x[r * ld + c] : x[c * ld + r];
}

template <typename LoadA, typename LoadB>
void gemm_generic(int64_t M, int64_t N, int64_t K, float alpha, LoadA load_a, LoadB load_b, float beta,
                  float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(load_a(i, k)) * load_b(k, j);
      const double old = beta == 0.0f ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      C[i * ldc + j] = static_cast<float>(alpha * acc + old);
    }
  }
}

float round_bf16(float x) { return bf16_to_f32(anvil::f32_to_bf16(x)); }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluCoeff = 0.044715;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/sqrt(2 pi)

}  // namespace

void gemm(Precision prec, Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const bool bf16 = prec == Precision::kBF16;
  auto la = [&](int64_t r, int64_t c) {
    const float x = at(A, ta, lda, r, c);
    return bf16 ? round_bf16(x) : x;
  };
  auto lb = [&](int64_t r, int64_t c) {
    const float x = at(B, tb, ldb, r, c);
    return bf16 ? round_bf16(x) : x;
  };
  gemm_generic(M, N, K, alpha, la, lb, beta, C, ldc);
}

void gemm_bf16(Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16_t* A,
               int64_t lda, const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  auto la = [&](int64_t r, int64_t c) { return bf16_to_f32(at(A, ta, lda, r, c)); };
  auto lb = [&](int64_t r, int64_t c) { return bf16_to_f32(at(B, tb, ldb, r, c)); };
  gemm_generic(M, N, K, alpha, la, lb, beta, C, ldc);
}

void add(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void add_inplace(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}
void scale_inplace(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}
void add_bias(float* out, const float* bias, int64_t N, int64_t C) {
  for (int64_t r = 0; r < N; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] += bias[c];
}
void bias_backward(float* dbias, const float* dout, int64_t N, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t r = 0; r < N; ++r) s += dout[r * C + c];
    dbias[c] += static_cast<float>(s);
  }
}
void f32_to_bf16(bf16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = anvil::f32_to_bf16(in[i]);
}
void f32_to_f16(f16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = anvil::f32_to_f16(in[i]);
}

void gelu_forward(float* out, const float* inp, int64_t n, GeluApprox approx) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double y = approx == GeluApprox::kTanh
                         ? 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + kGeluCoeff * x * x * x)))
                         : 0.5 * x * (1.0 + std::erf(x * kInvSqrt2));
    out[i] = static_cast<float>(y);
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, GeluApprox approx) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    double d;
    if (approx == GeluApprox::kTanh) {
      const double u = kSqrt2OverPi * (x + kGeluCoeff * x * x * x);
      const double t = std::tanh(u);
      d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluCoeff * x * x);
    } else {
      d = 0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
    }
    dinp[i] = static_cast<float>(d * dout[i]);
  }
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g * sigmoid(g) * up[i]);
  }
}

void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up, const float* dout,
                     int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i], s = sigmoid(g), dy = dout[i];
    dgate[i] = static_cast<float>(dy * up[i] * s * (1.0 + g * (1.0 - s)));
    dup[i] = static_cast<float>(dy * g * s);
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps) {
  for (int64_t r = 0; r < N; ++r) {
    const float* x = inp + r * C;
    double m = 0.0;
    for (int64_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<double>(C);
    double v = 0.0;
    for (int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<double>(C);
    const double s = 1.0 / std::sqrt(v + eps);
    for (int64_t c = 0; c < C; ++c) {
      const double y = (x[c] - m) * s * weight[c] + (bias ? bias[c] : 0.0f);
      out[r * C + c] = static_cast<float>(y);
    }
    mean[r] = static_cast<float>(m);
    rstd[r] = static_cast<float>(s);
  }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  for (int64_t r = 0; r < N; ++r) {
    const float* x = inp + r * C;
    const float* dy = dout + r * C;
    const double m = mean[r], s = rstd[r];
    double sum_dn = 0.0, sum_dn_n = 0.0;  // sums of dnorm and dnorm * norm over the row
    for (int64_t c = 0; c < C; ++c) {
      const double norm = (x[c] - m) * s;
      const double dn = static_cast<double>(weight[c]) * dy[c];
      sum_dn += dn;
      sum_dn_n += dn * norm;
    }
    sum_dn /= static_cast<double>(C);
    sum_dn_n /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const double norm = (x[c] - m) * s;
      const double dn = static_cast<double>(weight[c]) * dy[c];
      dinp[r * C + c] += static_cast<float>(s * (dn - sum_dn - norm * sum_dn_n));
      dweight[c] += static_cast<float>(norm * dy[c]);
      if (dbias) dbias[c] += dy[c];
    }
  }
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                     float eps) {
  for (int64_t r = 0; r < N; ++r) {
    const float* x = inp + r * C;
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(x[c]) * x[c];
    const double s = 1.0 / std::sqrt(ss / static_cast<double>(C) + eps);
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = static_cast<float>(x[c] * s * weight[c]);
    rstd[r] = static_cast<float>(s);
  }
}

// y_c = w_c x_c s, s = (mean(x^2)+eps)^(-1/2):  dx_j = s (w_j dy_j - x_j s^2 mean_c(w_c dy_c x_c)).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  for (int64_t r = 0; r < N; ++r) {
    const float* x = inp + r * C;
    const float* dy = dout + r * C;
    const double s = rstd[r];
    double dot = 0.0;
    for (int64_t c = 0; c < C; ++c) dot += static_cast<double>(weight[c]) * dy[c] * x[c];
    dot /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      dinp[r * C + c] += static_cast<float>(s * (static_cast<double>(weight[c]) * dy[c] - x[c] * s * s * dot));
      dweight[c] += static_cast<float>(static_cast<double>(dy[c]) * x[c] * s);
    }
  }
}

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
  std::vector<double> e(static_cast<size_t>(C));
  for (int64_t r = 0; r < N; ++r) {
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(inp[r * C + c]));
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += e[c] = std::exp(inp[r * C + c] - mx);
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = static_cast<float>(e[c] / sum);
  }
}

// loss = -sum_c q_c log p_c with q = (1-eps) onehot(y) + eps/V  =  lse - (1-eps) z_y - (eps/V) sum_c z_c.
int64_t cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                              int64_t N, int64_t V, float label_smoothing, int32_t ignore_index) {
  int64_t n_valid = 0;
  for (int64_t r = 0; r < N; ++r) {
    const float* z = logits + r * V;
    double mx = -INFINITY, sum_z = 0.0;
    for (int64_t c = 0; c < V; ++c) {
      mx = std::max(mx, static_cast<double>(z[c]));
      sum_z += z[c];
    }
    double se = 0.0;
    for (int64_t c = 0; c < V; ++c) se += std::exp(z[c] - mx);
    const double l = mx + std::log(se);
    lse[r] = static_cast<float>(l);
    const int32_t y = targets[r];
    if (y == ignore_index) {
      losses[r] = 0.0f;
      continue;
    }
    ANVIL_CHECK(y >= 0 && y < V, "[ref.cross_entropy_forward] target {} of row {} outside [0, {})", y, r, V);
    const double eps = label_smoothing;
    losses[r] = static_cast<float>(l - (1.0 - eps) * z[y] - eps / static_cast<double>(V) * sum_z);
    ++n_valid;
  }
  return n_valid;
}

// d loss / d z_c = softmax(z)_c - q_c.
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            int64_t N, int64_t V, float label_smoothing, int32_t ignore_index, float dloss) {
  for (int64_t r = 0; r < N; ++r) {
    const int32_t y = targets[r];
    if (y == ignore_index) {
      for (int64_t c = 0; c < V; ++c) dlogits[r * V + c] = 0.0f;
      continue;
    }
    ANVIL_CHECK(y >= 0 && y < V, "[ref.cross_entropy_backward] target {} of row {} outside [0, {})", y, r, V);
    const double eps = label_smoothing;
    for (int64_t c = 0; c < V; ++c) {
      const double p = std::exp(static_cast<double>(logits[r * V + c]) - lse[r]);
      const double q = (c == y ? 1.0 - eps : 0.0) + eps / static_cast<double>(V);
      dlogits[r * V + c] = static_cast<float>(dloss * (p - q));
    }
  }
}

}  // namespace anvil::ref
