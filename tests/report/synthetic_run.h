// A synthetic training run for the report tests: ~2000 steps of a decaying, noisy loss, a warmup +
// cosine lr, grad norms with one spike above the healthy band, val every 100 steps, checkpoints, a
// warning and a stop event, and a small run.toml. Deterministic (seeded Rng).
#pragma once

#include <cmath>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include "anvil/base/file.h"
#include "anvil/base/rng.h"
#include "support/temp_dir.h"

namespace anvil::report::testing {

struct SyntheticRun {
  int n_steps = 2000;
  int val_every = 100;
  int checkpoint_every = 500;
  int spike_step = 700;         // grad norm 40 here, plus a warning event
  double spike_grad_norm = 40;
  uint64_t seed = 7;
};

inline double synthetic_val_loss(int step) { return 2.1 + 7.5 * std::exp(-step / 300.0) + 0.02 * std::sin(step * 0.01); }

inline std::string synthetic_metrics(const SyntheticRun& r) {
  Rng rng(r.seed);
  std::string out;
  out += R"j({"kind":"event","step":0,"event":"start","message":"pretrain, 2 threads"})j" "\n";
  double peak = 0;
  for (int step = 1; step <= r.n_steps; ++step) {
    const double loss = 2.0 + 8.0 * std::exp(-step / 300.0) + 0.08 * rng.normal();
    const double warm = 100, lr_max = 6e-4;
    const double lr = step < warm ? lr_max * step / warm
                                  : 0.1 * lr_max + 0.45 * lr_max * (1 + std::cos(M_PI * (step - warm) / (r.n_steps - warm)));
    const double gn = step == r.spike_step ? r.spike_grad_norm : 0.9 * std::exp(0.25 * rng.normal()) + 0.2 * std::exp(-step / 200.0);
    const double tps = 12000 + 600 * rng.normal() - (step % 500 == 0 ? 5000 : 0);
    const double rss = 900 + 300 * (1 - std::exp(-step / 150.0)) + 10 * rng.normal();
    peak = std::max(peak, rss);
    out += fmt::format(
        R"j({{"kind":"train","step":{},"loss":{:.5f},"lr":{:.6g},"grad_norm":{:.5f},"tokens":{},"tokens_per_s":{:.1f},"mfu":{:.4f},"step_s":{:.4f},"rss_mib":{:.1f},"peak_rss_mib":{:.1f}}})j"
        "\n",
        step, loss, lr, gn, step * 4096, tps, tps / 12000 * 0.31, 4096 / tps, rss, peak);
    if (step % r.val_every == 0) {
      out += fmt::format(R"j({{"kind":"val","step":{},"val_loss":{:.5f},"val_tokens":65536}})j" "\n", step,
                         synthetic_val_loss(step));
    }
    if (step == r.spike_step) {
      out += fmt::format(R"j({{"kind":"event","step":{},"event":"warning","message":"grad_norm {:.1f} above 10 (clipped to 1.0)"}})j" "\n",
                         step, r.spike_grad_norm);
    }
    if (step % r.checkpoint_every == 0) {
      out += fmt::format(R"j({{"kind":"event","step":{},"event":"checkpoint","message":"checkpoints/step-{:08d}"}})j" "\n", step, step);
    }
  }
  out += fmt::format(R"j({{"kind":"event","step":{},"event":"stop","message":"reached max_steps"}})j" "\n", r.n_steps);
  return out;
}

inline constexpr const char* kSyntheticToml =
    "# synthetic run\n[model]\nconfig = \"examples/tiny.json\"\n[train]\nmax_steps = 2000\nlr = 6e-4\n"
    "note = \"<b>not bold</b> & friends\"\n";

// Writes metrics.jsonl, run.toml and checkpoints/latest.json of a synthetic run under `dir`.
inline Status write_synthetic_run(const std::filesystem::path& dir, const SyntheticRun& r = {}) {
  std::filesystem::create_directories(dir / "checkpoints");
  ANVIL_RETURN_IF_ERROR(write_file_atomic((dir / "metrics.jsonl").string(), synthetic_metrics(r)));
  ANVIL_RETURN_IF_ERROR(write_file_atomic((dir / "run.toml").string(), kSyntheticToml));
  return write_file_atomic((dir / "checkpoints" / "latest.json").string(),
                           fmt::format(R"j({{"step": {}, "dir": "step-{:08d}"}})j", r.n_steps, r.n_steps));
}

// A fresh, empty directory under the system temp dir.
inline std::filesystem::path fresh_dir(const std::string& name) {
  return test::fresh_temp_dir(name);
}

}  // namespace anvil::report::testing
