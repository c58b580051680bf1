// End to end: a synthetic run's report.html rendered by headless Chromium (/usr/bin/chromium). Checks
// that the browser's DOM holds the five chart <svg>s with their series polylines, that each polyline is
// laid out with real geometry inside its plot area (measured by a probe script added to a copy of the
// page; the shipped page has no script), and that a 1000x2000 screenshot is a real PNG. The page and
// screenshot stay in ANVIL_REPORT_E2E_DIR/<test name> for a human to look at. Skipped without Chromium.
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "anvil/base/file.h"
#include "anvil/report/run_report.h"
#include "synthetic_run.h"

namespace anvil::report {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr int kTimeoutS = 120;          // per Chromium run (cold start on a loaded 2-core machine)
constexpr double kMinChartWidthPx = 800;  // the charts must stay readable in a 1000 px window
constexpr double kGeomSlackPx = 1.0;    // polyline bbox vs plot rect (stroke width, rounding)

const std::vector<int> kSeriesPerChart = {2, 1, 1, 2, 2};

constexpr const char* kProbe = R"(<pre id="probe"></pre><script>
const out = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const plot = svg.querySelector('rect.plot').getBBox();
  const lines = [...svg.querySelectorAll('polyline.series')].map(p => {
    const b = p.getBBox();
    return {name: p.dataset.series, n: p.points.numberOfItems, x: b.x, y: b.y, w: b.width, h: b.height,
            len: p.getTotalLength()};
  });
  out.push({title: svg.querySelector('title').textContent, width: svg.getBoundingClientRect().width,
            plot: {x: plot.x, y: plot.y, w: plot.width, h: plot.height}, lines: lines});
}
document.getElementById('probe').textContent = JSON.stringify(out);
</script>)";

// Runs Chromium headless on `url` with extra args; returns its stdout ("" on failure, reason in `err`).
std::string run_chromium(const fs::path& work, const std::string& url, const std::string& args, std::string& err) {
  // Per process: ctest runs the e2e cases in parallel, and Chromium locks its profile directory.
  const std::string tag = std::to_string(::getpid());
  const fs::path profile = work / ("profile-" + tag);
  fs::remove_all(profile);
  fs::create_directories(profile);
  const fs::path out = work / ("chromium-" + tag + ".out"), log = work / ("chromium-" + tag + ".err");
  const std::string cmd = fmt::format(
      "timeout {} {} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync --hide-scrollbars "
      "--user-data-dir='{}' {} '{}' > '{}' 2> '{}'",
      kTimeoutS, kChromium, profile.string(), args, url, out.string(), log.string());
  const int rc = std::system(cmd.c_str());
  auto text = read_file(out.string());
  if (rc != 0 || !text.ok()) {
    auto e = read_file(log.string());
    err = fmt::format("chromium exit {}; stderr: {}", rc, e.ok() ? e->substr(0, 2000) : "?");
    return "";
  }
  return *text;
}

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

std::string unescape_text(std::string s) {
  for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&amp;", "&"}}) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p)) s.replace(p, std::strlen(from), to);
  }
  return s;
}

class ChromiumE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " not installed (Debian package chromium, scripts/setup.sh)";
    // One folder per test: ctest runs them in parallel processes.
    dir_ = fs::path(ANVIL_REPORT_E2E_DIR) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    ASSERT_TRUE(testing::write_synthetic_run(dir_).ok());
    auto r = write_run_report({.run_dir = dir_.string()});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    page_ = r->path;
  }
  fs::path dir_;
  std::string page_;
};

TEST_F(ChromiumE2E, RenderedDomHasEveryChartWithItsSeries) {
  std::string err;
  const std::string dom = run_chromium(dir_, "file://" + page_, "--dump-dom", err);
  ASSERT_FALSE(dom.empty()) << err;
  EXPECT_EQ(count(dom, "<svg"), 5);
  EXPECT_EQ(count(dom, "<polyline class=\"series\""), 8);
  EXPECT_NE(dom.find("Training run report"), std::string::npos);
}

TEST_F(ChromiumE2E, PolylinesAreLaidOutInsideTheirPlots) {
  auto page = read_file(page_);
  ASSERT_TRUE(page.ok());
  std::string probe = *page;
  probe.insert(probe.rfind("</body>"), kProbe);
  const fs::path probe_path = dir_ / "report_probe.html";
  ASSERT_TRUE(write_file_atomic(probe_path.string(), probe).ok());
  std::string err;
  const std::string dom = run_chromium(dir_, "file://" + probe_path.string(), "--window-size=1000,2000 --dump-dom", err);
  ASSERT_FALSE(dom.empty()) << err;
  const size_t a = dom.find("<pre id=\"probe\">"), b = dom.find("</pre>", a);
  ASSERT_NE(a, std::string::npos);
  const auto charts = nlohmann::json::parse(unescape_text(dom.substr(a + 16, b - a - 16)), nullptr, false);
  ASSERT_TRUE(charts.is_array()) << dom.substr(a, 500);
  ASSERT_EQ(charts.size(), kSeriesPerChart.size());
  for (size_t i = 0; i < charts.size(); ++i) {
    const auto& c = charts[i];
    SCOPED_TRACE(c["title"].get<std::string>());
    EXPECT_GE(c["width"].get<double>(), kMinChartWidthPx);
    ASSERT_EQ(c["lines"].size(), static_cast<size_t>(kSeriesPerChart[i]));
    const auto& plot = c["plot"];
    for (const auto& l : c["lines"]) {
      SCOPED_TRACE(l["name"].get<std::string>());
      EXPECT_GE(l["n"].get<int>(), 20);                       // val loss has 20 points, the rest more
      EXPECT_GT(l["len"].get<double>(), 0.9 * plot["w"].get<double>());  // drawn across the plot
      EXPECT_GT(l["w"].get<double>(), 0.9 * plot["w"].get<double>());
      EXPECT_GE(l["x"].get<double>(), plot["x"].get<double>() - kGeomSlackPx);
      EXPECT_GE(l["y"].get<double>(), plot["y"].get<double>() - kGeomSlackPx);
      EXPECT_LE(l["x"].get<double>() + l["w"].get<double>(),
                plot["x"].get<double>() + plot["w"].get<double>() + kGeomSlackPx);
      EXPECT_LE(l["y"].get<double>() + l["h"].get<double>(),
                plot["y"].get<double>() + plot["h"].get<double>() + kGeomSlackPx);
    }
  }
}

TEST_F(ChromiumE2E, ScreenshotIsAFullSizePng) {
  const fs::path png = dir_ / "screenshot.png";
  std::string err;
  run_chromium(dir_, "file://" + page_, fmt::format("--screenshot='{}' --window-size=1000,2000", png.string()), err);
  auto bytes = read_file(png.string());
  ASSERT_TRUE(bytes.ok()) << "no screenshot: " << err;
  ASSERT_GE(bytes->size(), 24u);
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t o) {
    const auto* u = reinterpret_cast<const unsigned char*>(bytes->data() + o);
    return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
  };
  EXPECT_EQ(be32(16), 1000u);  // IHDR width
  EXPECT_EQ(be32(20), 2000u);  // IHDR height
  EXPECT_GT(bytes->size(), 50000u);  // a blank or error page compresses far smaller than five charts
}

}  // namespace
}  // namespace anvil::report
