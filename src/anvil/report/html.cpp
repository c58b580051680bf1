// HTML escaping and compact number formats for report pages (html.h).
#include "anvil/report/html.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace anvil::report {

std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

namespace {

// Drops trailing zeros (and a trailing '.') of a fixed-point string.
std::string trim_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::string format_compact(double v, int sig) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  if (sig < 1) sig = 1;
  const double a = std::fabs(v);
  if (a >= 1e4) {
    static constexpr const char* kSuffix[] = {"k", "M", "G", "T", "P"};
    int k = 0;
    double u = 1e3;
    while (k < 4 && a >= u * 1e3 * (1 - 1e-12)) {
      u *= 1e3;
      ++k;
    }
    const double m = v / u;
    const int int_digits = static_cast<int>(std::floor(std::log10(std::fabs(m)))) + 1;
    const int decimals = std::max(0, sig - int_digits);
    return trim_zeros(fmt::format("{:.{}f}", m, decimals)) + kSuffix[k];
  }
  if (a >= 1e-3) {
    const int int_digits = static_cast<int>(std::floor(std::log10(a))) + 1;
    const int decimals = std::max(0, sig - int_digits);
    return trim_zeros(fmt::format("{:.{}f}", v, decimals));
  }
  const int e = static_cast<int>(std::floor(std::log10(a)));
  double m = v / std::pow(10.0, e);
  std::string ms = trim_zeros(fmt::format("{:.{}f}", m, sig - 1));
  if (ms == "10" || ms == "-10") return fmt::format("{}e{}", m > 0 ? "1" : "-1", e + 1);
  return fmt::format("{}e{}", ms, e);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "—";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

}  // namespace anvil::report
