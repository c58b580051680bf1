// render_svg (svg_chart.h): lays out title, legend, plot area and axes in pixels, maps data through
// linear or log scales and writes one self-contained <svg>. All text is escaped; coordinates are
// rounded to 0.1 px; nothing outside the plot's domain is drawn.
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "anvil/report/html.h"
#include "anvil/report/svg_chart.h"

namespace anvil::report {
namespace {

constexpr double kCharWidth = 6.6;  // px per character of 11-12 px sans-serif text (layout estimate)
constexpr int kLegendRowHeight = 18;
constexpr double kLogPad = 0.04;    // fraction of the log range added above and below the data
constexpr int kMaxDots = 400;       // markers are skipped on series longer than this
constexpr const char* kFont = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";

bool drawable(const Point& p, AxisScale y_scale) {
  return std::isfinite(p.x) && std::isfinite(p.y) && (y_scale == AxisScale::kLinear || p.y > 0);
}

struct Scale {
  AxisScale kind = AxisScale::kLinear;
  double lo = 0, hi = 1;     // domain
  double p0 = 0, p1 = 1;     // pixels of lo and hi
  double operator()(double v) const {
    double t = kind == AxisScale::kLog ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                                       : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
};

// The domain and ticks of one axis over the given values.
Ticks axis_ticks(const AxisOptions& a, double lo, double hi, int target) {
  if (a.scale == AxisScale::kLog) {
    if (hi > lo) {
      const double f = std::pow(hi / lo, kLogPad);
      lo /= f;
      hi *= f;
    }
    return nice_log_ticks(lo, hi, target);
  }
  if (a.include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  return nice_linear_ticks(lo, hi, target);
}

struct LegendItem {
  enum class Kind { kLine, kBand, kMarker } kind;
  std::string text;
  std::string color;
  bool dashed = false;
};

double text_width(const std::string& s) { return kCharWidth * static_cast<double>(s.size()); }

}  // namespace

std::string render_svg(const LineChart& c) {
  const int W = c.width, H = c.height;

  // Drawable points per series and the data ranges of each axis.
  std::vector<std::vector<Point>> pts(c.series.size());
  double x_lo = INFINITY, x_hi = -INFINITY;
  double yl_lo = INFINITY, yl_hi = -INFINITY, yr_lo = INFINITY, yr_hi = -INFINITY;
  int64_t n_not_positive = 0;
  bool has_right = false;
  for (size_t s = 0; s < c.series.size(); ++s) {
    const Series& se = c.series[s];
    const bool right = se.side == YAxisSide::kRight;
    has_right |= right;
    const AxisScale ys = right ? c.y_right.scale : c.y.scale;
    for (const Point& p : se.points) {
      if (!drawable(p, ys)) {
        if (std::isfinite(p.x) && std::isfinite(p.y)) ++n_not_positive;
        continue;
      }
      pts[s].push_back(p);
      x_lo = std::min(x_lo, p.x);
      x_hi = std::max(x_hi, p.x);
      (right ? yr_lo : yl_lo) = std::min(right ? yr_lo : yl_lo, p.y);
      (right ? yr_hi : yl_hi) = std::max(right ? yr_hi : yl_hi, p.y);
    }
    auto by_x = [](const Point& a, const Point& b) { return a.x < b.x; };
    if (!std::is_sorted(pts[s].begin(), pts[s].end(), by_x)) std::stable_sort(pts[s].begin(), pts[s].end(), by_x);
  }
  const bool empty = !(x_lo <= x_hi);

  // Legend rows (wrapped to the chart width) decide where the plot starts.
  std::vector<LegendItem> legend;
  for (const Series& se : c.series) {
    legend.push_back({.kind = LegendItem::Kind::kLine,
                      .text = se.side == YAxisSide::kRight ? se.name + " (right axis)" : se.name,
                      .color = se.color,
                      .dashed = se.style == LineStyle::kDashed});
  }
  for (const YBand& b : c.bands) legend.push_back({.kind = LegendItem::Kind::kBand, .text = b.label, .color = b.color});
  std::map<std::string, bool> seen_marker;
  for (const XMarker& m : c.markers) {
    if (seen_marker.emplace(m.label, true).second)
      legend.push_back({.kind = LegendItem::Kind::kMarker, .text = m.label, .color = m.color, .dashed = true});
  }

  Ticks yt, yrt, xt;
  if (!empty) {
    xt = axis_ticks(c.x, x_lo, x_hi, 7);
    if (yl_lo <= yl_hi) yt = axis_ticks(c.y, yl_lo, yl_hi, 6);
    if (yr_lo <= yr_hi) yrt = axis_ticks(c.y_right, yr_lo, yr_hi, 6);
  }
  size_t max_left = 0, max_right = 0;
  for (const auto& l : yt.labels) max_left = std::max(max_left, l.size());
  for (const auto& l : yrt.labels) max_right = std::max(max_right, l.size());
  const double left = std::max<double>(c.min_margin_left, 30 + kCharWidth * static_cast<double>(std::max<size_t>(max_left, 3)));
  const double right = std::max<double>(
      c.min_margin_right, has_right ? 30 + kCharWidth * static_cast<double>(std::max<size_t>(max_right, 3)) : 24);

  std::string legend_svg;
  double lx = left, ly = 44;
  for (const LegendItem& it : legend) {
    const double w = 30 + text_width(it.text) + 18;
    if (lx + w > W - right && lx > left) {
      lx = left;
      ly += kLegendRowHeight;
    }
    const std::string col = html_escape(it.color);
    if (it.kind == LegendItem::Kind::kBand) {
      legend_svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"22\" height=\"10\" fill=\"{}\" fill-opacity=\"0.18\" stroke=\"{}\" stroke-opacity=\"0.5\"/>",
                                lx, ly - 9, col, col);
    } else {
      legend_svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"{}\"{}/>", lx,
                                ly - 4, lx + 22, ly - 4, col, it.kind == LegendItem::Kind::kMarker ? 1.2 : 2.2,
                                it.dashed ? " stroke-dasharray=\"5 3\"" : "");
    }
    legend_svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#333\">{}</text>", lx + 28, ly,
                              html_escape(it.text));
    lx += w;
  }
  const double top = legend.empty() ? 40 : ly + 14;
  const double bottom = H - 46;
  const double plot_w = W - right - left;

  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"{}\" role=\"img\" aria-label=\"{}\">",
      W, H, W, H, kFont, html_escape(c.title));
  o += fmt::format("<title>{}</title>", html_escape(c.title));
  o += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#fff\"/>", W, H);
  o += fmt::format("<text x=\"{:.1f}\" y=\"22\" font-size=\"15\" font-weight=\"600\" fill=\"#111\">{}</text>", left,
                   html_escape(c.title));
  o += legend_svg;
  o += fmt::format("<rect class=\"plot\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#fcfcfd\" stroke=\"#bbb\"/>",
                   left, top, plot_w, bottom - top);
  if (empty) {
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"14\" fill=\"#888\" text-anchor=\"middle\">no data</text>",
                     left + plot_w / 2, (top + bottom) / 2);
    return o + "</svg>";
  }

  const Scale sx{.kind = c.x.scale, .lo = xt.lo, .hi = xt.hi, .p0 = left, .p1 = left + plot_w};
  const Scale sy{.kind = c.y.scale, .lo = yt.lo, .hi = yt.hi, .p0 = bottom, .p1 = top};
  const Scale syr{.kind = c.y_right.scale, .lo = yrt.lo, .hi = yrt.hi, .p0 = bottom, .p1 = top};

  // Bands under everything else, clipped to the left axis domain.
  if (!yt.values.empty()) {
    for (const YBand& b : c.bands) {
      double lo = std::max(b.lo, yt.lo), hi = std::min(b.hi, yt.hi);
      if (!(lo < hi)) continue;
      o += fmt::format("<rect class=\"band\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.12\"><title>{}</title></rect>",
                       left, sy(hi), plot_w, sy(lo) - sy(hi), html_escape(b.color), html_escape(b.label));
    }
  }

  // Grid and tick labels.
  for (size_t i = 0; i < xt.values.size(); ++i) {
    const double px = sx(xt.values[i]);
    o += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e6e6e6\"/>", px, top, bottom);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#444\" text-anchor=\"middle\">{}</text>", px,
                     bottom + 15, html_escape(xt.labels[i]));
  }
  for (size_t i = 0; i < yt.values.size(); ++i) {
    const double py = sy(yt.values[i]);
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>", left, py, left + plot_w, py);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#444\" text-anchor=\"end\">{}</text>", left - 6,
                     py + 4, html_escape(yt.labels[i]));
  }
  for (size_t i = 0; i < yrt.values.size(); ++i) {
    const double py = syr(yrt.values[i]);
    o += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#999\"/>", left + plot_w, py,
                     left + plot_w + 4);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#444\">{}</text>", left + plot_w + 7, py + 4,
                     html_escape(yrt.labels[i]));
  }

  // Axis titles.
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#222\" text-anchor=\"middle\">{}</text>",
                   left + plot_w / 2, static_cast<double>(H) - 10, html_escape(c.x.title));
  const double ymid = (top + bottom) / 2;
  const std::string ylog = c.y.scale == AxisScale::kLog ? " (log)" : "";
  o += fmt::format("<text x=\"14\" y=\"{0:.1f}\" font-size=\"12\" fill=\"#222\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0:.1f})\">{1}</text>",
                   ymid, html_escape(c.y.title + ylog));
  if (has_right) {
    const double rx = W - 10;
    const std::string yrlog = c.y_right.scale == AxisScale::kLog ? " (log)" : "";
    o += fmt::format("<text x=\"{0:.1f}\" y=\"{1:.1f}\" font-size=\"12\" fill=\"#222\" text-anchor=\"middle\" transform=\"rotate(90 {0:.1f} {1:.1f})\">{2}</text>",
                     rx, ymid, html_escape(c.y_right.title + yrlog));
  }

  // Event markers.
  for (const XMarker& m : c.markers) {
    if (!std::isfinite(m.x) || m.x < xt.lo || m.x > xt.hi) continue;
    o += fmt::format("<line class=\"marker\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"1.2\" stroke-dasharray=\"5 3\"><title>{4}</title></line>",
                     sx(m.x), top, bottom, html_escape(m.color), html_escape(m.detail.empty() ? m.label : m.detail));
  }

  // Series.
  for (size_t s = 0; s < c.series.size(); ++s) {
    if (pts[s].empty()) continue;
    const Series& se = c.series[s];
    const Scale& ys = se.side == YAxisSide::kRight ? syr : sy;
    const int n_buckets = c.n_buckets > 0 ? c.n_buckets : std::max(1, static_cast<int>(plot_w));
    const std::vector<Point> d = downsample_m4(pts[s], n_buckets);
    std::string coords;
    coords.reserve(d.size() * 13);
    for (const Point& p : d) fmt::format_to(std::back_inserter(coords), "{:.1f},{:.1f} ", sx(p.x), ys(p.y));
    if (!coords.empty()) coords.pop_back();
    const std::string col = html_escape(se.color);
    o += fmt::format("<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" stroke-linejoin=\"round\"{} points=\"{}\"><title>{}</title></polyline>",
                     html_escape(se.name), col, se.style == LineStyle::kDashed ? " stroke-dasharray=\"6 3\"" : "", coords,
                     html_escape(se.name));
    if ((se.markers || d.size() == 1) && d.size() <= kMaxDots) {
      for (const Point& p : d)
        o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.6\" fill=\"{}\"/>", sx(p.x), ys(p.y), col);
    }
  }
  if (n_not_positive > 0) {
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" fill=\"#a33\" text-anchor=\"end\">{} point{} &#8804; 0 not shown on the log axis</text>",
                     left + plot_w - 4, top + 13, n_not_positive, n_not_positive == 1 ? "" : "s");
  }
  return o + "</svg>";
}

}  // namespace anvil::report
