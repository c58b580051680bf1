// `anvil bench train-step`: forward + backward throughput of one model config on random tokens
// (no optimizer step), with the forward/backward split, model FLOP/s (nanoGPT 6N + 12*L*d*T
// convention, as the PyTorch peer bench/train_step_vs_torch.sh compares against), peak RSS and a
// per-kernel-category time breakdown. `anvil bench gemm`: square-GEMM GFLOP/s per precision on this
// machine now (train::measure_gemm_rate, the probe behind `measure_peak`, MFU's denominator).
// Both print a human table and, with --json, one JSON line.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "anvil/base/rng.h"
#include "anvil/cli/command.h"
#include "anvil/model/transformer.h"
#include "anvil/train/trainer.h"

namespace anvil::cli {
namespace {

struct BenchOptions {
  std::string config = "S";
  std::string precision = "f32";
  int threads = 0;  // 0 = the global --threads
  int steps = 5;
  int warmup = 2;
  int64_t batch = 0;    // 0 = preset default (S: 16, M: 8, else 8)
  int64_t context = 0;  // 0 = preset default (the config's context)
  bool json = false;
};

struct GemmBenchOptions {
  std::vector<std::string> precisions = {"f32", "bf16"};
  std::vector<int64_t> sizes = {512, 1024, 2048};
  int threads = 0;
  double seconds = 0.5;  // timed seconds per (precision, size)
  bool json = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

int run_train_step(const BenchOptions& o, const GlobalOptions& g) {
  GlobalOptions g2 = g;
  if (o.threads > 0) g2.threads = o.threads;
  const Context ctx = make_cli_context(g2);
  const int threads = ctx.apply();
  Precision prec;
  if (o.precision == "f32" || o.precision == "fp32") prec = Precision::kF32;
  else if (o.precision == "bf16") prec = Precision::kBF16;
  else {
    std::fprintf(stderr, "anvil bench train-step: --precision must be f32 or bf16, got '%s'\n", o.precision.c_str());
    return 2;
  }
  if (o.steps < 1 || o.warmup < 0) {
    std::fprintf(stderr, "anvil bench train-step: --steps must be >= 1 and --warmup >= 0\n");
    return 2;
  }
  auto cfg = model::config_from_arg(o.config);
  if (!cfg.ok()) return report_failure("bench train-step", cfg.status());
  const int64_t B = o.batch > 0 ? o.batch : (o.config == "S" || o.config == "gpt2-S" || o.config == "llama-S" ? 16 : 8);
  const int64_t T = o.context > 0 ? o.context : cfg->max_seq;
  auto m = model::Transformer::create(*cfg);
  if (!m.ok()) return report_failure("bench train-step", m.status());
  m->init_weights(ctx.seed);
  Status st = m->plan(B, T, {.bf16_buffers = prec == Precision::kBF16});
  if (!st.ok()) return report_failure("bench train-step", st);
  const int64_t N = B * T;
  std::vector<int32_t> ids(static_cast<size_t>(N)), targets(static_cast<size_t>(N));
  Rng rng(ctx.seed);
  const model::StepOptions opt{.precision = prec, .mode = model::Mode::kTrain, .seed = ctx.seed};
  std::vector<double> fwd, bwd, total;
  model::KernelTimer& timer = m->timer();
  std::fprintf(stderr, "bench train-step: config %s, B=%ld T=%ld, %s, %d threads, %ld params, %d+%d steps\n",
               o.config.c_str(), B, T, o.precision.c_str(), threads, m->n_params(), o.warmup, o.steps);
  float loss = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    for (int64_t i = 0; i < N; ++i) {
      ids[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg->vocab_size)));
      targets[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg->vocab_size)));
    }
    if (Status vs = m->validate_batch(ids.data(), targets.data()); !vs.ok()) return report_failure("bench train-step", vs);
    const bool measured = s >= o.warmup;
    timer.enabled = measured;
    const double head_before = timer.head_backward_seconds;
    m->zero_grad();
    const auto t0 = std::chrono::steady_clock::now();
    loss = m->forward(ids.data(), targets.data(), opt);
    const auto t1 = std::chrono::steady_clock::now();
    m->backward(opt);
    const auto t2 = std::chrono::steady_clock::now();
    const double head_bwd = timer.head_backward_seconds - head_before;
    const double f = std::chrono::duration<double>(t1 - t0).count() - head_bwd;
    const double b = std::chrono::duration<double>(t2 - t1).count() + head_bwd;
    std::fprintf(stderr, "# step %d: %.3fs (fwd %.3f bwd %.3f) loss %.4f%s\n", s, f + b, f, b, loss,
                 measured ? "" : " (warmup)");
    if (measured) fwd.push_back(f), bwd.push_back(b), total.push_back(f + b);
  }
  const double med = median(total);
  const double fpt = m->train_flops_per_token(T);
  const double tok_s = static_cast<double>(N) / med;
  const double gflops = fpt * static_cast<double>(N) / med / 1e9;
  const double rss = peak_rss_mib();
  double kernel_total = 0;
  for (double v : timer.seconds) kernel_total += v;
  const double n_steps = static_cast<double>(o.steps);
  std::printf("config %s (B=%ld, T=%ld, %ld params), precision %s, %d threads\n", o.config.c_str(), B, T,
              m->n_params(), o.precision.c_str(), threads);
  std::printf("  step %.4f s (fwd %.4f + bwd %.4f, medians)  %.1f tokens/s  %.1f model GFLOP/s  peak RSS %.1f MiB\n",
              med, median(fwd), median(bwd), tok_s, gflops, rss);
  std::printf("  per-kernel time per step (mean over %d steps):\n", o.steps);
  for (size_t k = 0; k < timer.seconds.size(); ++k)
    std::printf("    %-14s %8.4f s  %5.1f%%\n", model::kernel_kind_name(static_cast<model::KernelKind>(k)),
                timer.seconds[k] / n_steps, 100.0 * timer.seconds[k] / std::max(kernel_total, 1e-12));
  if (o.json) {
    std::string kernels;
    for (size_t k = 0; k < timer.seconds.size(); ++k)
      kernels += fmt::format("{}\"{}\": {:.5f}", k ? ", " : "", model::kernel_kind_name(static_cast<model::KernelKind>(k)),
                             timer.seconds[k] / n_steps);
    std::printf("{\"bench\": \"anvil_train_step\", \"config\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
                "\"params_total\": %ld, \"tokens_per_step\": %ld, \"step_s_median\": %.5f, \"fwd_s_median\": %.5f, "
                "\"bwd_s_median\": %.5f, \"tokens_per_s_median\": %.1f, \"flops_per_token\": %.0f, "
                "\"model_gflops_per_s_median\": %.1f, \"peak_rss_mib\": %.1f, \"loss\": %.4f, \"kernels_s\": {%s}}\n",
                o.config.c_str(), o.precision.c_str(), threads, m->n_params(), N, med, median(fwd), median(bwd),
                tok_s, fpt, gflops, rss, loss, kernels.c_str());
  }
  return 0;
}

int run_gemm(const GemmBenchOptions& o, const GlobalOptions& g) {
  GlobalOptions g2 = g;
  if (o.threads > 0) g2.threads = o.threads;
  const int threads = make_cli_context(g2).apply();
  for (const std::string& p : o.precisions)
    if (p != "f32" && p != "bf16") {
      std::fprintf(stderr, "anvil bench gemm: --precisions takes f32 and/or bf16, got '%s'\n", p.c_str());
      return 2;
    }
  for (int64_t n : o.sizes)
    if (n < 1 || n > 16384) {
      std::fprintf(stderr, "anvil bench gemm: each of --sizes must be in [1, 16384], got %ld\n", n);
      return 2;
    }
  if (!(o.seconds > 0) || o.seconds > 60) {
    std::fprintf(stderr, "anvil bench gemm: --seconds must be in (0, 60], got %g\n", o.seconds);
    return 2;
  }
  std::printf("GEMM C = A B^T (n x n x n), %d threads; GFLOP/s per call (2n^3 / time)\n", threads);
  std::printf("  %-9s %6s %6s %9s %9s %10s\n", "precision", "n", "calls", "median", "best", "reference");
  nlohmann::json results = nlohmann::json::array(), peaks = nlohmann::json::object();
  for (const std::string& p : o.precisions) {
    const bool bf16 = p == "bf16";
    const double reference = threads * (bf16 ? train::kGemmPeakBf16PerCoreGflops : train::kGemmPeakF32PerCoreGflops);
    double peak = 0;
    for (int64_t n : o.sizes) {
      const train::GemmRate r = train::measure_gemm_rate(
          {.precision = bf16 ? Precision::kBF16 : Precision::kF32, .n = n, .min_seconds = o.seconds});
      peak = std::max(peak, r.gflops_best);
      std::printf("  %-9s %6ld %6d %9.1f %9.1f %10.0f\n", p.c_str(), n, r.calls, r.gflops_median, r.gflops_best,
                  reference);
      std::fflush(stdout);
      results.push_back({{"precision", p}, {"n", n}, {"calls", r.calls}, {"seconds", r.seconds},
                         {"gflops_median", r.gflops_median}, {"gflops_best", r.gflops_best}});
    }
    peaks[p] = {{"measured", peak}, {"reference", reference}};
    std::printf("  %s peak: %.1f GFLOP/s measured (best call over sizes), %.0f reference (MFU's default "
                "denominator)\n", p.c_str(), peak, reference);
  }
  if (o.json) {
    const nlohmann::json j = {{"bench", "anvil_gemm"}, {"threads", threads}, {"results", results}, {"peak_gflops", peaks}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

}  // namespace

Command register_bench(CLI::App& app, const GlobalOptions& g) {
  Command c;
  c.app = app.add_subcommand("bench", "End-to-end benchmarks (compare against peers with bench/*.sh)");
  c.app->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  auto* ts = c.app->add_subcommand(
      "train-step",
      "Forward + backward tokens/s of a model on random tokens (no optimizer step): step time split into "
      "forward and backward (the LM head's backward, fused into the forward chunk loop, is counted as "
      "backward), model GFLOP/s (6N + 12*L*d*T per token), peak RSS, and time per kernel category.");
  ts->add_option("--config", o->config, "preset (S, M, gpt2-S, gpt2-M, llama-S) or config.json path")
      ->capture_default_str();
  ts->add_option("--precision", o->precision, "f32 | bf16 (bf16 GEMM inputs, fp32 accumulation and master weights)")
      ->capture_default_str();
  ts->add_option("--threads", o->threads, "threads (0 = the global --threads)")->capture_default_str();
  ts->add_option("--steps", o->steps, "measured steps")->capture_default_str();
  ts->add_option("--warmup", o->warmup, "unmeasured steps first")->capture_default_str();
  ts->add_option("--batch", o->batch, "sequences per step (0 = 16 for the S presets, else 8)")->capture_default_str();
  ts->add_option("--context", o->context, "tokens per sequence (0 = the config's context)")->capture_default_str();
  ts->add_flag("--json", o->json, "also print one JSON line");
  auto go = std::make_shared<GemmBenchOptions>();
  auto* gs = c.app->add_subcommand(
      "gemm",
      "Square-GEMM throughput C = A B^T per precision at the run's thread count: f32 through ops::gemm, bf16 "
      "through ops::gemm_bf16 on bf16 operands. The best call per precision is what `anvil train` measures "
      "at start with [log] measure_peak = true (docs/train.md); the reference column is MFU's default "
      "denominator. Under load from other processes the numbers read low.");
  gs->add_option("--precisions", go->precisions, "f32 and/or bf16")->delimiter(',')->capture_default_str();
  gs->add_option("--sizes", go->sizes, "n of the n x n x n products")->delimiter(',')->capture_default_str();
  gs->add_option("--seconds", go->seconds, "timed seconds per (precision, size), after 2 untimed calls")
      ->capture_default_str();
  gs->add_option("--threads", go->threads, "threads (0 = the global --threads)")->capture_default_str();
  gs->add_flag("--json", go->json, "also print one JSON line");
  c.run = [&g, ts, o, gs, go]() -> int {
    if (ts->parsed()) return run_train_step(*o, g);
    if (gs->parsed()) return run_gemm(*go, g);
    return 2;
  };
  return c;
}

}  // namespace anvil::cli
