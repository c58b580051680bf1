// Tick values and labels for linear and log axes (svg_chart.h), after Heckbert's "Nice numbers for
// graph labels" (Graphics Gems, 1990). Invariant: every returned tick lies inside [lo, hi].
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "anvil/report/html.h"
#include "anvil/report/svg_chart.h"

namespace anvil::report {
namespace {

constexpr double kEps = 1e-9;  // relative slack when comparing tick positions to the domain

// The 1, 2, 5 or 10 × 10^k nearest x (Heckbert's nicenum with rounding).
double nice_step(double x) {
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  const double nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nf * std::pow(10.0, e);
}

// Labels with one shared format: decimals from the step, SI suffix when ticks reach 10^4, scientific
// when they all stay under 10^-3.
std::vector<std::string> linear_labels(const std::vector<double>& values, double step) {
  double max_abs = 0;
  for (double v : values) max_abs = std::max(max_abs, std::fabs(v));
  std::vector<std::string> out;
  auto decimals_for = [](double s) { return std::max(0, static_cast<int>(-std::floor(std::log10(s) + kEps))); };
  if (max_abs >= 1e4) {
    static constexpr const char* kSuffix[] = {"k", "M", "G", "T", "P"};
    int k = 0;
    double u = 1e3;
    while (k < 4 && max_abs >= u * 1e3) {
      u *= 1e3;
      ++k;
    }
    const int d = decimals_for(step / u);
    for (double v : values) out.push_back(v == 0 ? "0" : fmt::format("{:.{}f}{}", v / u, d, kSuffix[k]));
  } else if (max_abs > 0 && max_abs < 1e-3) {
    const int e = static_cast<int>(std::floor(std::log10(max_abs)));
    const double u = std::pow(10.0, e);
    const int d = decimals_for(step / u);
    for (double v : values) out.push_back(v == 0 ? "0" : fmt::format("{:.{}f}e{}", v / u, d, e));
  } else {
    const int d = decimals_for(step);
    for (double v : values) out.push_back(fmt::format("{:.{}f}", v, d));
  }
  return out;
}

// Ticks m × 10^e inside [lo, hi] for the given mantissas; decades every `stride`-th power.
std::vector<double> log_candidates(double lo, double hi, std::initializer_list<double> mantissas, int stride) {
  std::vector<double> out;
  const int e0 = static_cast<int>(std::floor(std::log10(lo))) - 1;
  const int e1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
  for (int e = e0; e <= e1; ++e) {
    if (((e % stride) + stride) % stride != 0) continue;
    for (double m : mantissas) {
      const double v = m * std::pow(10.0, e);
      if (v >= lo * (1 - kEps) && v <= hi * (1 + kEps)) out.push_back(v);
    }
  }
  return out;
}

}  // namespace

Ticks nice_linear_ticks(double lo, double hi, int target) {
  if (hi < lo) std::swap(lo, hi);
  target = std::max(2, target);
  if (hi == lo) {
    const double d = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  const double step = nice_step((hi - lo) / (target - 1));
  const double t0 = std::floor(lo / step + kEps) * step;
  const double t1 = std::ceil(hi / step - kEps) * step;
  Ticks t{.lo = t0, .hi = t1};
  const int64_t n = std::llround((t1 - t0) / step);
  for (int64_t i = 0; i <= n; ++i) {
    double v = t0 + static_cast<double>(i) * step;
    if (std::fabs(v) < step * kEps) v = 0;  // no "-0.00"
    t.values.push_back(v);
  }
  t.labels = linear_labels(t.values, step);
  return t;
}

Ticks nice_log_ticks(double lo, double hi, int target) {
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    lo /= 1.5;
    hi *= 1.5;
  }
  const double decades = std::log10(hi / lo);
  std::vector<std::vector<double>> candidates;
  std::vector<double> linear_values;
  double linear_step = 0;
  if (decades >= 2) {
    int stride = 1;
    while (static_cast<int>(log_candidates(lo, hi, {1}, stride).size()) > target) ++stride;
    candidates.push_back(log_candidates(lo, hi, {1}, stride));
    candidates.push_back(log_candidates(lo, hi, {1, 2, 5}, 1));
  } else {
    candidates.push_back(log_candidates(lo, hi, {1, 2, 5}, 1));
    const Ticks lin = nice_linear_ticks(lo, hi, target);
    for (double v : lin.values) {
      if (v > 0 && v >= lo * (1 - kEps) && v <= hi * (1 + kEps)) linear_values.push_back(v);
    }
    if (lin.values.size() >= 2) linear_step = lin.values[1] - lin.values[0];
    candidates.push_back(linear_values);
  }
  size_t best = candidates.size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].size() < 2) continue;
    if (best == candidates.size() ||
        std::abs(static_cast<int>(candidates[i].size()) - target) <
            std::abs(static_cast<int>(candidates[best].size()) - target)) {
      best = i;
    }
  }
  Ticks t{.lo = lo, .hi = hi};
  if (best == candidates.size()) {  // a sliver of a decade with no round value inside: label the ends
    t.values = {lo, hi};
    for (double v : t.values) t.labels.push_back(format_compact(v, 3));
    return t;
  }
  t.values = candidates[best];
  if (!linear_values.empty() && t.values == linear_values) {
    t.labels = linear_labels(t.values, linear_step);
  } else {
    for (double v : t.values) t.labels.push_back(format_compact(v, 3));
  }
  return t;
}

std::vector<Point> downsample_m4(std::span<const Point> points, int n_buckets) {
  if (n_buckets < 1 || points.size() <= 4 * static_cast<size_t>(n_buckets)) {
    return {points.begin(), points.end()};
  }
  const double x0 = points.front().x;
  const double x1 = points.back().x;
  const double width = x1 - x0;
  std::vector<Point> out;
  out.reserve(4 * static_cast<size_t>(n_buckets));
  size_t i = 0;
  while (i < points.size()) {
    const int64_t b = width > 0 ? std::min<int64_t>(n_buckets - 1, static_cast<int64_t>((points[i].x - x0) / width * n_buckets))
                                : 0;
    size_t first = i, lo = i, hi = i, last = i;
    for (; i < points.size(); ++i) {
      const int64_t bi = width > 0 ? std::min<int64_t>(n_buckets - 1, static_cast<int64_t>((points[i].x - x0) / width * n_buckets))
                                   : 0;
      if (bi != b) break;
      if (points[i].y < points[lo].y) lo = i;
      if (points[i].y > points[hi].y) hi = i;
      last = i;
    }
    size_t keep[4] = {first, lo, hi, last};
    std::sort(keep, keep + 4);
    for (int k = 0; k < 4; ++k) {
      if (k > 0 && keep[k] == keep[k - 1]) continue;
      out.push_back(points[keep[k]]);
    }
  }
  return out;
}

}  // namespace anvil::report
