// svg_chart.h: nice ticks (linear and log), M4 downsampling keeps every bucket's extremes, and the SVG
// holds one polyline per drawable series, inside the plot area, with text escaped.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <set>

#include <gtest/gtest.h>

#include "anvil/base/rng.h"
#include "anvil/report/svg_chart.h"

namespace anvil::report {
namespace {

constexpr double kRel = 1e-9;      // relative tolerance for tick values
constexpr double kPixelSlack = 0.06;  // px: coordinates are printed with one decimal

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

void expect_values(const Ticks& t, const std::vector<double>& want) {
  ASSERT_EQ(t.values.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.values[i], want[i], std::fabs(want[i]) * kRel + 1e-300) << i;
}

TEST(NiceLinearTicks, RoundStepsCoveringTheRange) {
  Ticks t = nice_linear_ticks(0, 1);
  expect_values(t, {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  EXPECT_EQ(t.labels, (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}));

  t = nice_linear_ticks(1, 1997, 7);  // steps of a run: 0 .. 2000
  EXPECT_DOUBLE_EQ(t.lo, 0);
  EXPECT_DOUBLE_EQ(t.hi, 2000);
  EXPECT_EQ(t.labels.front(), "0");
  EXPECT_EQ(t.labels.back(), "2000");

  t = nice_linear_ticks(-7, 13);
  EXPECT_LE(t.lo, -7);
  EXPECT_GE(t.hi, 13);
  EXPECT_NE(std::find(t.values.begin(), t.values.end(), 0.0), t.values.end());
  for (const auto& l : t.labels) EXPECT_NE(l, "-0");
}

TEST(NiceLinearTicks, LabelsUseSiSuffixOrScientificAtTheExtremes) {
  Ticks t = nice_linear_ticks(0, 24000);
  EXPECT_EQ(t.labels, (std::vector<std::string>{"0", "5k", "10k", "15k", "20k", "25k"}));
  t = nice_linear_ticks(0, 6e-4);
  EXPECT_EQ(t.labels, (std::vector<std::string>{"0", "1e-4", "2e-4", "3e-4", "4e-4", "5e-4", "6e-4"}));
}

TEST(NiceLinearTicks, DegenerateRangeGetsADomainAroundTheValue) {
  Ticks t = nice_linear_ticks(3e-4, 3e-4);
  EXPECT_LT(t.lo, 3e-4);
  EXPECT_GT(t.hi, 3e-4);
  EXPECT_GE(t.values.size(), 2u);
  t = nice_linear_ticks(0, 0);
  EXPECT_LT(t.lo, 0);
  EXPECT_GT(t.hi, 0);
}

// Property: over many random ranges the step is 1, 2 or 5 × 10^k, ticks are evenly spaced multiples of
// it, the domain covers the range, there are 3..13 ticks and labels are distinct.
TEST(NiceLinearTicks, PropertiesOverRandomRanges) {
  Rng rng(11);
  for (int i = 0; i < 2000; ++i) {
    const double scale = std::pow(10.0, rng.uniform_f64() * 16 - 8);
    double lo = (rng.uniform_f64() * 2 - 1) * scale;
    double hi = lo + rng.uniform_f64() * scale + scale * 1e-3;
    const Ticks t = nice_linear_ticks(lo, hi, 6);
    ASSERT_GE(t.values.size(), 3u) << lo << " " << hi;
    ASSERT_LE(t.values.size(), 13u) << lo << " " << hi;
    EXPECT_LE(t.lo, lo);
    EXPECT_GE(t.hi, hi);
    const double step = t.values[1] - t.values[0];
    const double mant = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::fabs(mant - 1) < 1e-6 || std::fabs(mant - 2) < 1e-6 || std::fabs(mant - 5) < 1e-6) << step;
    for (double v : t.values) EXPECT_NEAR(std::remainder(v, step), 0, step * 1e-6);
    EXPECT_EQ(std::set<std::string>(t.labels.begin(), t.labels.end()).size(), t.labels.size()) << lo << " " << hi;
  }
}

TEST(NiceLogTicks, DecadesOverManyDecades) {
  Ticks t = nice_log_ticks(1e-3, 1e1);
  expect_values(t, {1e-3, 1e-2, 1e-1, 1, 10});
  EXPECT_EQ(t.labels, (std::vector<std::string>{"0.001", "0.01", "0.1", "1", "10"}));
  t = nice_log_ticks(1e-8, 1e5, 6);  // 13 decades: every 3rd power (multiples of 3 in the exponent)
  EXPECT_LE(t.values.size(), 6u);
  EXPECT_GE(t.values.size(), 3u);
  for (double v : t.values) EXPECT_NEAR(std::fmod(std::log10(v) + 30, 1.0), 0, 1e-9);
}

TEST(NiceLogTicks, UnderTwoDecadesUsesRoundValuesInsideTheDomain) {
  Ticks t = nice_log_ticks(1.9, 11);  // a loss curve
  EXPECT_DOUBLE_EQ(t.lo, 1.9);
  EXPECT_DOUBLE_EQ(t.hi, 11);
  expect_values(t, {2, 4, 6, 8, 10});
  t = nice_log_ticks(2.05, 2.4);  // a sliver: still at least two labels, all inside
  ASSERT_GE(t.values.size(), 2u);
  for (double v : t.values) {
    EXPECT_GE(v, 2.05 * (1 - kRel));
    EXPECT_LE(v, 2.4 * (1 + kRel));
  }
}

std::vector<Point> spiky_walk(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<Point> p(n);
  double y = 0;
  for (size_t i = 0; i < n; ++i) {
    y += rng.normal();
    const bool spike = rng.below(997) == 0;
    p[i] = {static_cast<double>(i), spike ? y + (rng.below(2) ? 500 : -500) : y};
  }
  return p;
}

TEST(DownsampleM4, KeepsEveryBucketsFirstMinMaxLastInOrder) {
  const std::vector<Point> p = spiky_walk(100000, 3);
  const int n_buckets = 500;
  const std::vector<Point> d = downsample_m4(p, n_buckets);
  EXPECT_LE(d.size(), 4u * n_buckets);
  EXPECT_GE(d.size(), 2u * n_buckets);
  EXPECT_TRUE(std::is_sorted(d.begin(), d.end(), [](const Point& a, const Point& b) { return a.x < b.x; }));
  std::set<double> kept_x;
  for (const Point& q : d) kept_x.insert(q.x);
  // Reference: recompute each bucket's extremes and ends by brute force.
  const double x0 = p.front().x, w = p.back().x - p.front().x;
  std::vector<std::vector<size_t>> buckets(n_buckets);
  for (size_t i = 0; i < p.size(); ++i)
    buckets[std::min<size_t>(n_buckets - 1, static_cast<size_t>((p[i].x - x0) / w * n_buckets))].push_back(i);
  for (const auto& b : buckets) {
    ASSERT_FALSE(b.empty());
    auto lo = *std::min_element(b.begin(), b.end(), [&](size_t a, size_t c) { return p[a].y < p[c].y; });
    auto hi = *std::max_element(b.begin(), b.end(), [&](size_t a, size_t c) { return p[a].y < p[c].y; });
    EXPECT_TRUE(kept_x.count(p[lo].x));
    EXPECT_TRUE(kept_x.count(p[hi].x));
    EXPECT_TRUE(kept_x.count(p[b.front()].x));
    EXPECT_TRUE(kept_x.count(p[b.back()].x));
  }
  auto ymax = [](const std::vector<Point>& v) {
    return std::max_element(v.begin(), v.end(), [](auto& a, auto& b) { return a.y < b.y; })->y;
  };
  EXPECT_EQ(ymax(d), ymax(p));  // the biggest spike survives
}

TEST(DownsampleM4, ShortSeriesUnchanged) {
  const std::vector<Point> p = spiky_walk(100, 5);
  const std::vector<Point> d = downsample_m4(p, 50);
  ASSERT_EQ(d.size(), p.size());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(d[i].y, p[i].y);
}

struct Box {
  double x0, y0, x1, y1;
};

// The value of attribute `name` in the tag starting at `from` (std::regex overflows the stack on
// polylines thousands of points long, so this parses by hand).
std::string attr(const std::string& svg, size_t from, const std::string& name) {
  const size_t end = svg.find('>', from);
  const size_t p = svg.find(" " + name + "=\"", from);
  if (p == std::string::npos || p > end) return "";
  const size_t v = p + name.size() + 3;
  return svg.substr(v, svg.find('"', v) - v);
}

Box plot_box(const std::string& svg) {
  const size_t p = svg.find("<rect class=\"plot\"");
  EXPECT_NE(p, std::string::npos);
  const double x = std::stod(attr(svg, p, "x")), y = std::stod(attr(svg, p, "y"));
  return {x, y, x + std::stod(attr(svg, p, "width")), y + std::stod(attr(svg, p, "height"))};
}

std::vector<std::vector<Point>> polylines(const std::string& svg) {
  std::vector<std::vector<Point>> out;
  for (size_t p = svg.find("<polyline class=\"series\""); p != std::string::npos;
       p = svg.find("<polyline class=\"series\"", p + 1)) {
    std::vector<Point> pts;
    std::string s = attr(svg, p, "points");
    std::replace(s.begin(), s.end(), ',', ' ');
    std::istringstream in(s);
    Point q;
    while (in >> q.x >> q.y) pts.push_back(q);
    out.push_back(pts);
  }
  return out;
}

TEST(RenderSvg, OnePolylinePerSeriesInsideThePlotArea) {
  LineChart c{.title = "Throughput", .y = {.title = "tokens/s", .include_zero = true}, .y_right = {.title = "MFU"}};
  c.series.push_back({.name = "tokens/s", .points = spiky_walk(5000, 1)});
  for (auto& p : c.series[0].points) p.y = 1000 + std::fabs(p.y);
  c.series.push_back({.name = "MFU", .color = "red", .points = {{0, 0.3}, {2500, 0.31}, {4999, 0.29}}, .side = YAxisSide::kRight});
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<svg"), 1);
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 2);
  EXPECT_NE(svg.find("MFU (right axis)"), std::string::npos);
  const Box b = plot_box(svg);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_LE(lines[0].size(), 4 * static_cast<size_t>(b.x1 - b.x0) + 4);  // downsampled to pixel columns
  for (const auto& line : lines) {
    for (const Point& p : line) {
      EXPECT_GE(p.x, b.x0 - kPixelSlack);
      EXPECT_LE(p.x, b.x1 + kPixelSlack);
      EXPECT_GE(p.y, b.y0 - kPixelSlack);
      EXPECT_LE(p.y, b.y1 + kPixelSlack);
    }
  }
}

TEST(RenderSvg, SkipsNonFiniteAndNonPositiveOnLog) {
  LineChart c{.title = "grad", .y = {.title = "g", .scale = AxisScale::kLog}};
  c.series.push_back({.name = "g", .points = {{1, 0.5}, {2, NAN}, {3, INFINITY}, {4, 0}, {5, -1}, {6, 2}}});
  c.bands.push_back({.lo = 1e-3, .hi = 1e1, .label = "healthy"});
  const std::string svg = render_svg(c);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), 2u);
  EXPECT_NE(svg.find("2 points &#8804; 0 not shown"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"band\""), 1);
}

TEST(RenderSvg, EmptyChartSaysNoData) {
  LineChart c{.title = "Loss"};
  c.series.push_back({.name = "train loss"});
  c.series.push_back({.name = "val loss", .points = {{1, NAN}}});
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<svg"), 1);
  EXPECT_EQ(count(svg, "<polyline"), 0);
  EXPECT_NE(svg.find(">no data<"), std::string::npos);
}

TEST(RenderSvg, EscapesEveryText) {
  LineChart c{.title = "a<b & \"c\"", .x = {.title = "<x>"}, .y = {.title = "<y>"}};
  c.series.push_back({.name = "<script>alert(1)</script>", .color = "\"><script>", .points = {{0, 1}, {1, 2}}});
  c.markers.push_back({.x = 0.5, .label = "<warn>", .detail = "</svg>"});
  const std::string svg = render_svg(c);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
  EXPECT_EQ(svg.find("<warn>"), std::string::npos);
  EXPECT_EQ(count(svg, "</svg>"), 1);
  EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot;"), std::string::npos);
}

}  // namespace
}  // namespace anvil::report
