// Continuous-batching throughput: aggregate generated tokens/s of infer::Scheduler with 1, 4, 8 and 16
// concurrent greedy sequences, against one Generator decoding a single sequence (the same model, same
// prompt length, same tokens per sequence), on random-weight models of the quickstart shape
// (examples/models/quickstart.json) and of LLaMA 15M (dim 288, 6 layers, 6 heads, ffn 768, vocab 32000 —
// the shape of llama.cpp's row in /work/shared/peers/RESULTS.md). Aggregate = all generated tokens / wall
// time from the first submit to the last final event (prefill of the short prompts included), and per CPU
// second of the process (the number to trust on a busy machine; run with OMP_NUM_THREADS=1 then).
// Goal (issue 6): aggregate@8 / single >= 4x. `profile` mode times Engine::forward decode steps of ROWS
// sequences (one token each, at positions CONTEXT .. CONTEXT+STEPS-1, after an untimed pass over the same
// positions: a server's slots are reused, so its cache pages are touched already) and splits a step into linear layers
// (gemm, LM head included), attention, norms and the rest (Engine's KernelTimer, wall time), and reports
// the process CPU time per step (with OMP_NUM_THREADS=1 the figure to trust on a busy machine). `prefill`
// mode times Engine::prefill of TOKENS prompt tokens (the first call of the process, then the best of RUNS;
// peer: llama-bench -p TOKENS -n 0 on the same shape).
// Usage: bench_infer_batch [TOKENS_PER_SEQ=128] [RUNS=2] [SHAPE=all|quickstart|llama-15M] [CONCURRENCY=0 (all)]
//        bench_infer_batch profile [ROWS=8] [STEPS=64] [SHAPE=llama-15M|llama-110M|gpt2-S|gpt2-M|quickstart|
//                                  CONFIG.json] [CONTEXT=80] [KV=f16|f32|int8]
//        bench_infer_batch prefill [TOKENS=256] [SHAPE=(as profile)] [RUNS=5]
#include <omp.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "anvil/base/file.h"
#include "anvil/infer/engine.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/scheduler.h"

namespace {

using namespace anvil;
using Clock = std::chrono::steady_clock;

constexpr int64_t kPromptBytes = 16;
constexpr const char* kLlama15m = R"({"model_type":"llama","vocab_size":32000,"hidden_size":288,
  "intermediate_size":768,"num_hidden_layers":6,"num_attention_heads":6,"num_key_value_heads":6,
  "max_position_embeddings":256,"tie_word_embeddings":true})";
constexpr const char* kLlama110m = R"({"model_type":"llama","vocab_size":32000,"hidden_size":768,
  "intermediate_size":2048,"num_hidden_layers":12,"num_attention_heads":12,"num_key_value_heads":12,
  "max_position_embeddings":1024,"tie_word_embeddings":true})";
// Issue 2's GPT-2 configs S and M (bench/serve_bench.py has the same).
constexpr const char* kGpt2S =
    R"({"model_type":"gpt2","vocab_size":8192,"n_positions":256,"n_embd":256,"n_layer":4,"n_head":4})";
constexpr const char* kGpt2M =
    R"({"model_type":"gpt2","vocab_size":32768,"n_positions":512,"n_embd":512,"n_layer":8,"n_head":8})";

tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  p.tokens.emplace_back("<|endoftext|>");
  p.special_ids.push_back(256);
  auto t = tok::Tokenizer::create(std::move(p));
  if (!t.ok()) std::fprintf(stderr, "%s\n", t.status().to_string().c_str()), std::exit(1);
  return std::move(*t);
}

model::Transformer random_model(const std::string& config_json) {
  auto cfg = model::parse_config(config_json);
  if (!cfg.ok()) std::fprintf(stderr, "%s\n", cfg.status().to_string().c_str()), std::exit(1);
  auto m = model::Transformer::create(*cfg);
  if (!m.ok()) std::fprintf(stderr, "%s\n", m.status().to_string().c_str()), std::exit(1);
  m->init_weights(1);
  return std::move(*m);
}

std::vector<int32_t> prompt(int i) {
  std::vector<int32_t> p;
  for (int64_t k = 0; k < kPromptBytes; ++k) p.push_back(static_cast<int32_t>('a' + (i * 7 + k) % 26));
  return p;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Generated tokens per wall second and per CPU second of this process (the second is robust to other
// processes competing for the cores, given OMP_NUM_THREADS=1: no thread spins while waiting).
struct Rate {
  double wall = 0.0, cpu = 0.0;
};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

Rate best_of(const Rate& a, const Rate& b) { return {std::max(a.wall, b.wall), std::max(a.cpu, b.cpu)}; }

// One Generator, one sequence: prompt prefill + n_tokens, timed like the batched runs.
Rate single_stream(const std::string& cfg, int64_t n_tokens, int runs) {
  auto g = infer::Generator::create(random_model(cfg), byte_tokenizer());
  if (!g.ok()) std::fprintf(stderr, "%s\n", g.status().to_string().c_str()), std::exit(1);
  Rate best;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    auto res = g->generate_ids(prompt(r), {.temperature = 0.0f, .max_tokens = n_tokens, .ignore_eos = true});
    if (!res.ok()) std::fprintf(stderr, "%s\n", res.status().to_string().c_str()), std::exit(1);
    const auto n = static_cast<double>(res->n_tokens);
    best = best_of(best, {n / seconds_since(t0), n / (cpu_seconds() - c0)});
  }
  return best;
}

// Aggregate generated tokens/s with `conc` sequences submitted at once.
Rate batched(infer::Scheduler& s, int conc, int64_t n_tokens) {
  std::mutex mu;
  std::condition_variable cv;
  int n_done = 0;
  int64_t n_generated = 0;
  const auto t0 = Clock::now();
  const double c0 = cpu_seconds();
  for (int i = 0; i < conc; ++i) {
    auto id = s.submit({.prompt_ids = prompt(i), .sampling = {.temperature = 0.0f, .max_tokens = n_tokens, .ignore_eos = true}},
                       [&](const infer::StreamEvent& e) {
                         if (!e.final) return true;
                         std::lock_guard<std::mutex> lock(mu);
                         if (!e.error.ok()) std::fprintf(stderr, "%s\n", e.error.to_string().c_str()), std::exit(1);
                         n_generated += e.n_tokens, ++n_done;
                         cv.notify_all();
                         return true;
                       });
    if (!id.ok()) std::fprintf(stderr, "%s\n", id.status().to_string().c_str()), std::exit(1);
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return n_done == conc; });
  const auto n = static_cast<double>(n_generated);
  return {n / seconds_since(t0), n / (cpu_seconds() - c0)};
}

void run_shape(const char* name, const std::string& cfg, int64_t n_tokens, int runs, int only_conc) {
  // On a thread of its own, so its OpenMP pool ends with it: an idle pool left in this process would make
  // libgomp throttle the spin-waits of the scheduler's (more threads than cores) or, with
  // OMP_WAIT_POLICY=active, compete with it for the cores.
  Rate single;
  std::thread([&] { single = single_stream(cfg, n_tokens, runs); }).join();  // OMP_NUM_THREADS as main's
  std::printf("%-11s single Generator: %8.1f tok/s wall %8.1f tok/CPU-s\n", name, single.wall, single.cpu);
  auto s = infer::Scheduler::create(random_model(cfg), byte_tokenizer(),
                                    {.max_running = 16, .max_queue = 64, .prefill_chunk = 64, .max_batch_tokens = 256});
  if (!s.ok()) std::fprintf(stderr, "%s\n", s.status().to_string().c_str()), std::exit(1);
  for (int conc : {1, 4, 8, 16}) {
    if (only_conc > 0 && conc != only_conc) continue;
    Rate best;
    for (int r = 0; r < runs; ++r) best = best_of(best, batched(**s, conc, n_tokens));
    std::printf("%-11s scheduler x%-2d:    %8.1f tok/s wall %8.1f tok/CPU-s = %5.2fx / %5.2fx single\n", name, conc,
                best.wall, best.cpu, best.wall / single.wall, best.cpu / single.cpu);
    std::fflush(stdout);
  }
}

// Decode steps of `rows` sequences at context `context`: ms per step in total and per kernel kind.
void profile_steps(const char* name, const std::string& cfg, int64_t rows, int64_t steps, int64_t context,
                   DType kv_dtype) {
  const model::Transformer m = random_model(cfg);
  const int64_t V = m.config().vocab_size;
  auto eng = infer::Engine::create(
      m, {.n_slots = rows, .max_seq = context + steps + 8, .max_batch_tokens = 64, .kv_dtype = kv_dtype});
  if (!eng.ok()) std::fprintf(stderr, "%s\n", eng.status().to_string().c_str()), std::exit(1);
  std::vector<float> logits(static_cast<size_t>(std::max<int64_t>(rows, 64) * V));
  std::vector<int32_t> ctx(static_cast<size_t>(context));
  for (int64_t s = 0; s < rows; ++s) {
    for (int64_t p = 0; p < context; ++p) ctx[static_cast<size_t>(p)] = static_cast<int32_t>((s * 31 + p * 7) % V);
    if (auto st = eng->prefill(s, ctx, 0, logits.data()); !st.ok()) std::fprintf(stderr, "%s\n", st.to_string().c_str()), std::exit(1);
  }
  std::vector<infer::TokenInput> batch(static_cast<size_t>(rows));
  auto step = [&](int64_t k) {
    for (int64_t s = 0; s < rows; ++s)
      batch[static_cast<size_t>(s)] = {.slot = s, .token = static_cast<int32_t>((s + k) % V), .pos = context + k};
    auto n = eng->forward(batch, infer::LogitsFor::kAll, logits.data());
    if (!n.ok()) std::fprintf(stderr, "%s\n", n.status().to_string().c_str()), std::exit(1);
  };
  for (int64_t k = 0; k < steps; ++k) step(k);  // warm-up: every position once (first touch of the cache)
  model::KernelTimer& t = eng->timer();
  t.enabled = true, t.reset();
  const auto t0 = Clock::now();
  const double c0 = cpu_seconds();
  for (int64_t k = 0; k < steps; ++k) step(k);
  const double ms = 1e3 / static_cast<double>(steps), cpu_ms = (cpu_seconds() - c0) * ms;
  auto kind = [&](model::KernelKind k) { return t.seconds[static_cast<size_t>(k)] * ms; };
  std::printf("%-11s %2ld rows, context %ld: %.3f ms/step (%.0f tok/s), %.3f CPU-ms/step = linear %.3f + attention %.3f + "
              "norm %.3f + other %.3f ms\n",
              name, rows, context, seconds_since(t0) * ms, static_cast<double>(rows) / (seconds_since(t0) * ms) * 1e3, cpu_ms,
              kind(model::KernelKind::kGemm), kind(model::KernelKind::kAttention), kind(model::KernelKind::kNorm),
              kind(model::KernelKind::kOther));
}

// Engine::prefill of `n` prompt tokens (chunks of 256) into one slot: the first call of the process (what a
// cold `anvil generate` pays) and the best of `runs` later ones, as ms and prompt tokens/s.
void prefill_time(const char* name, const std::string& cfg, int64_t n, int runs) {
  const model::Transformer m = random_model(cfg);
  const int64_t V = m.config().vocab_size;
  auto eng = infer::Engine::create(m, {.n_slots = 1, .max_seq = n, .max_batch_tokens = 256});
  if (!eng.ok()) std::fprintf(stderr, "%s\n", eng.status().to_string().c_str()), std::exit(1);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p) ids[static_cast<size_t>(p)] = static_cast<int32_t>((p * 7 + 3) % V);
  std::vector<float> logits(static_cast<size_t>(V));
  double first = 0, best = 1e30;
  for (int r = 0; r <= runs; ++r) {
    const auto t0 = Clock::now();
    if (auto st = eng->prefill(0, ids, 0, logits.data()); !st.ok())
      std::fprintf(stderr, "%s\n", st.to_string().c_str()), std::exit(1);
    const double s = seconds_since(t0);
    if (r == 0) first = s;
    else best = std::min(best, s);
  }
  std::printf("%-11s prefill %ld tokens: first %.1f ms, then %.1f ms (%.0f tok/s)\n", name, n, first * 1e3, best * 1e3,
              static_cast<double>(n) / best);
}

const char* kLlama15mName = "llama-15M";
constexpr const char* kShapes = "llama-15M|llama-110M|gpt2-S|gpt2-M|quickstart";

// The config of a named shape; exits naming the known ones for any other name.
std::string shape_config(const std::string& shape) {
  if (shape == kLlama15mName) return kLlama15m;
  if (shape == "llama-110M") return kLlama110m;
  if (shape == "gpt2-S") return kGpt2S;
  if (shape == "gpt2-M") return kGpt2M;
  const bool is_file = shape.size() > 5 && shape.ends_with(".json");
  if (shape != "quickstart" && !is_file)
    std::fprintf(stderr, "unknown shape '%s' (one of %s, or a config .json)\n", shape.c_str(), kShapes), std::exit(2);
  auto config = read_file(is_file ? shape : std::string(ANVIL_SOURCE_DIR) + "/examples/models/quickstart.json");
  if (!config.ok()) std::fprintf(stderr, "%s\n", config.status().to_string().c_str()), std::exit(1);
  return *config;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "profile") {
    const int64_t rows = argc > 2 ? std::atoll(argv[2]) : 8, steps = argc > 3 ? std::atoll(argv[3]) : 64;
    const std::string shape = argc > 4 ? argv[4] : kLlama15mName;
    const int64_t context = argc > 5 ? std::atoll(argv[5]) : 80;
    const std::string kv = argc > 6 ? argv[6] : "f16";
    if (kv != "f16" && kv != "f32" && kv != "int8")
      std::fprintf(stderr, "KV must be f16, f32 or int8, got '%s'\n", kv.c_str()), std::exit(2);
    const std::string config = shape_config(shape);
    std::printf("bench_infer_batch profile: %d OpenMP threads, %ld steps, %s KV cache\n", omp_get_max_threads(), steps,
                kv.c_str());
    profile_steps(shape.c_str(), config, rows, steps, context, kv == "f16" ? DType::kF16 : kv == "int8" ? DType::kI8 : DType::kF32);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "prefill") {
    const int64_t n = argc > 2 ? std::atoll(argv[2]) : 256;
    const std::string shape = argc > 3 ? argv[3] : kLlama15mName;
    const int runs = argc > 4 ? std::atoi(argv[4]) : 5;
    const std::string config = shape_config(shape);
    std::printf("bench_infer_batch prefill: %d OpenMP threads, f16 KV cache\n", omp_get_max_threads());
    prefill_time(shape.c_str(), config, n, runs);
    return 0;
  }
  const int64_t n_tokens = argc > 1 ? std::atoll(argv[1]) : 128;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::string shape = argc > 3 ? argv[3] : "all";
  const int only_conc = argc > 4 ? std::atoi(argv[4]) : 0;
  std::printf("bench_infer_batch: %ld tokens per sequence, %ld-byte prompts, greedy, fp32 weights, f16 KV cache, %d OpenMP threads, best of %d\n",
              n_tokens, kPromptBytes, omp_get_max_threads(), runs);
  if (shape == "all" || shape == "quickstart") run_shape("quickstart", shape_config("quickstart"), n_tokens, runs, only_conc);
  if (shape == "all" || shape == kLlama15mName) run_shape(kLlama15mName, kLlama15m, n_tokens, runs, only_conc);
  return 0;
}
