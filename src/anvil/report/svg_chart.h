// Line charts as self-contained inline SVG (no script, no external font or stylesheet): series on a
// linear or log y axis, optionally a second y axis on the right, round tick values with labels, axis
// titles, a legend, shaded y bands and vertical event markers. Long series are downsampled with M4
// (first/min/max/last per pixel column; Jugel et al., VLDB 2014), so spikes stay visible.
// Ticks follow Heckbert's "Nice numbers for graph labels" (Graphics Gems, 1990): steps of 1, 2, 5 × 10^k.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace anvil::report {

enum class AxisScale { kLinear, kLog };
enum class YAxisSide { kLeft, kRight };
enum class LineStyle { kSolid, kDashed };

struct Point {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string name;
  std::string color = "#1f77b4";  // any CSS colour
  std::vector<Point> points;      // points with a non-finite x or y, or y <= 0 on a log axis, are not drawn
  YAxisSide side = YAxisSide::kLeft;
  LineStyle style = LineStyle::kSolid;
  bool markers = false;  // a dot on each point (for sparse series such as evals)
};

// A shaded horizontal band in left-axis units (e.g. a healthy range), clipped to the plotted range.
struct YBand {
  double lo = 0;
  double hi = 0;
  std::string label;
  std::string color = "#2ca02c";
};

// A vertical dashed line at x (e.g. a warning event). Markers sharing a label share one legend entry;
// `detail` is the line's tooltip.
struct XMarker {
  double x = 0;
  std::string label;
  std::string detail;
  std::string color = "#d62728";
};

struct AxisOptions {
  std::string title;
  AxisScale scale = AxisScale::kLinear;
  bool include_zero = false;  // linear axes only: the range always reaches 0
};

struct LineChart {
  std::string title;
  AxisOptions x{.title = "step"};
  AxisOptions y;
  AxisOptions y_right;  // drawn only when a series has side == kRight
  std::vector<Series> series;
  std::vector<YBand> bands;
  std::vector<XMarker> markers;
  int width = 900;
  int height = 320;
  int n_buckets = 0;  // downsampling buckets per series; 0 = one per pixel column of the plot area
  // Minimum px left and right of the plot area (0 = fit the tick labels). Charts stacked on one page
  // set equal margins so their x axes line up.
  int min_margin_left = 0;
  int min_margin_right = 0;
};

// An axis: its domain [lo, hi] and the tick values inside it with their labels.
struct Ticks {
  double lo = 0;
  double hi = 1;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// Round ticks (1, 2, 5 × 10^k steps) over [lo, hi], about `target` of them; the domain widens to the
// outermost ticks. lo == hi gives a small domain around the value. Labels share one precision.
Ticks nice_linear_ticks(double lo, double hi, int target = 6);

// Ticks for a log axis over [lo, hi] (0 < lo <= hi); the domain stays [lo, hi]. Over two or more
// decades: powers of ten (every k-th when there are many) or 1-2-5 steps; under two: 1-2-5 steps or
// round linear values — whichever count is nearest `target`.
Ticks nice_log_ticks(double lo, double hi, int target = 6);

// M4 downsampling over n_buckets equal x-intervals of the points' x range: keeps each bucket's first,
// lowest, highest and last point, in x order (so every local extreme survives). Input sorted by x;
// fewer than 4 * n_buckets points are returned unchanged.
std::vector<Point> downsample_m4(std::span<const Point> points, int n_buckets);

// The chart as one <svg> element. Each series with a drawable point is one
// <polyline class="series" data-series="NAME">; a chart with nothing to draw says "no data".
std::string render_svg(const LineChart& chart);

}  // namespace anvil::report
