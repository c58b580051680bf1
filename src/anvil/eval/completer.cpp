// CompleteFn engines: recomputation through LmScorer, and infer::Generator (completer.h).
#include "anvil/eval/completer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "anvil/base/rng.h"
#include "anvil/base/sysinfo.h"

namespace anvil::eval {
namespace {

// Index of the first stop string in text, or npos.
size_t first_stop(const std::string& text, const std::vector<std::string>& stops) {
  size_t at = std::string::npos;
  for (const std::string& s : stops) {
    if (!s.empty()) at = std::min(at, text.find(s));
  }
  return at;
}

int32_t choose(std::span<const float> logprobs, double temperature, Rng& rng) {
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(logprobs.begin(), logprobs.end()) - logprobs.begin());
  double mx = -INFINITY;
  for (float v : logprobs) mx = std::max(mx, static_cast<double>(v));
  std::vector<double> p(logprobs.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logprobs[i] - mx) / temperature);
  double u = rng.uniform_f64() * sum;
  for (size_t i = 0; i < p.size(); ++i) {
    if ((u -= p[i]) < 0) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(p.size() - 1);
}

infer::SamplingOptions sampling_options(const GenParams& params) {
  infer::SamplingOptions so;
  so.temperature = static_cast<float>(params.temperature);
  so.seed = params.seed;
  so.max_tokens = params.max_new_tokens;
  so.stop = params.stop;
  return so;
}

// Prompt ids for a generation in a context of max_seq positions: an empty prompt becomes the end-of-text
// token, and a prompt that leaves no room for max_new tokens keeps only its last max_seq - max_new tokens
// (lm-evaluation-harness truncates generation contexts from the left the same way).
std::vector<int32_t> prompt_ids(const tok::Tokenizer& tokenizer, const std::string& prompt, int32_t eos,
                                int64_t max_seq, int64_t max_new) {
  std::vector<int32_t> ids;
  for (uint32_t id : tokenizer.encode(prompt)) ids.push_back(static_cast<int32_t>(id));
  if (ids.empty() && eos >= 0) ids.push_back(eos);
  const int64_t keep = std::max<int64_t>(1, max_seq - std::max<int64_t>(max_new, 1));
  if (static_cast<int64_t>(ids.size()) > keep) ids.erase(ids.begin(), ids.end() - keep);
  return ids;
}

}  // namespace

CompleteFn recompute_completer(LmScorer& lm) {
  return [&lm](const std::string& prompt, const GenParams& params) -> Result<Completion> {
    const double t0 = wall_seconds();
    Completion c;
    std::vector<std::vector<int32_t>> seq = {lm.encode(prompt)};
    if (seq[0].empty()) {
      if (!lm.eot()) return invalid_argument("[eval.generate] empty prompt and no end-of-text token");
      seq[0].push_back(*lm.eot());
    }
    c.n_prompt_tokens = static_cast<int64_t>(seq[0].size());
    tok::StreamDecoder decoder(lm.tokenizer());  // the same UTF-8 repair as infer::Generator's stream
    std::vector<std::vector<float>> lp;
    Rng rng(params.seed);
    double t_first = 0;
    for (int64_t step = 0; step < params.max_new_tokens; ++step) {
      ANVIL_RETURN_IF_ERROR(lm.next_logprobs(seq, lp));
      const int32_t id = choose(lp[0], params.temperature, rng);
      if (step == 0) t_first = wall_seconds();
      if (lm.eot() && id == *lm.eot()) break;
      seq[0].push_back(id);
      c.n_tokens += 1;
      ANVIL_ASSIGN_OR_RETURN(std::string piece, decoder.push(static_cast<uint32_t>(id)));
      c.text += piece;
      if (first_stop(c.text, params.stop) != std::string::npos) break;
    }
    c.text += decoder.flush();
    if (const size_t at = first_stop(c.text, params.stop); at != std::string::npos) c.text.resize(at);
    const double t_end = wall_seconds();
    c.ttft_ms = t_first > 0 ? (t_first - t0) * 1e3 : 0.0;
    c.decode_ms_per_token = c.n_tokens > 1 ? (t_end - t_first) * 1e3 / static_cast<double>(c.n_tokens - 1) : 0.0;
    return c;
  };
}

CompleteFn generator_completer(infer::Generator& generator) {
  return [&generator](const std::string& prompt, const GenParams& params) -> Result<Completion> {
    const infer::SamplingOptions so = sampling_options(params);
    const std::vector<int32_t> ids = prompt_ids(generator.tokenizer(), prompt, generator.eos_id(),
                                                generator.engine().cache().max_seq(), so.max_tokens);
    ANVIL_ASSIGN_OR_RETURN(infer::GenerationResult g, generator.generate_ids(ids, so));
    return Completion{.text = std::move(g.text), .n_prompt_tokens = g.n_prompt_tokens, .n_tokens = g.n_tokens,
                      .ttft_ms = g.ttft_ms, .decode_ms_per_token = g.decode_ms_per_token};
  };
}

CompleteBatchFn scheduler_completer(infer::Scheduler& scheduler) {
  return [&scheduler](std::span<const CompletionRequest> requests) -> Result<std::vector<Completion>> {
    using Clock = std::chrono::steady_clock;
    // Written by the scheduler thread in its sinks; read here only after `n_done` says a request ended.
    struct Pending {
      Completion c;
      Clock::time_point first, last;
    };
    struct Shared {
      std::mutex mu;
      std::condition_variable cv;
      size_t n_done = 0;
      Status error;
    };
    auto shared = std::make_shared<Shared>();
    auto pending = std::make_shared<std::vector<Pending>>(requests.size());
    size_t n_submitted = 0;
    Status failure;
    for (size_t i = 0; i < requests.size() && failure.ok(); ++i) {
      infer::ScheduledRequest r{.prompt_ids = {}, .sampling = sampling_options(requests[i].params)};
      r.prompt_ids = prompt_ids(scheduler.tokenizer(), requests[i].prompt, scheduler.eos_id(),
                                scheduler.config().max_seq, r.sampling.max_tokens);
      infer::StreamSink sink = [shared, pending, i](const infer::StreamEvent& e) {
        Pending& p = (*pending)[i];
        p.c.text += e.text;
        if (e.token >= 0) {
          p.last = Clock::now();
          if (e.n_tokens == 1) p.first = p.last;
        }
        if (e.final) {
          p.c.n_prompt_tokens = e.n_prompt_tokens;
          p.c.n_tokens = e.n_tokens;
          p.c.ttft_ms = e.ttft_ms;
          if (e.n_tokens > 1) {
            p.c.decode_ms_per_token = std::chrono::duration<double, std::milli>(p.last - p.first).count() /
                                      static_cast<double>(e.n_tokens - 1);
          }
          const std::lock_guard<std::mutex> lock(shared->mu);
          if (!e.error.ok() && shared->error.ok()) shared->error = e.error;
          ++shared->n_done;
          shared->cv.notify_all();
        }
        return true;
      };
      while (true) {
        Result<uint64_t> id = scheduler.submit(r, sink);
        if (id.ok()) {
          ++n_submitted;
          break;
        }
        if (id.status().code() != StatusCode::kResourceExhausted) {
          failure = id.status().with_context(fmt::format("[eval.generate] request {}", i + 1));
          break;
        }
        // The queue is full: wait until one more of ours has finished, then try again.
        std::unique_lock<std::mutex> lock(shared->mu);
        const size_t seen = shared->n_done;
        if (seen == n_submitted) {
          failure = internal_error("[eval.generate] the scheduler's queue is full with none of our requests in it");
          break;
        }
        shared->cv.wait(lock, [&] { return shared->n_done > seen; });
      }
    }
    std::unique_lock<std::mutex> lock(shared->mu);  // every submitted request must end before `pending` is read
    shared->cv.wait(lock, [&] { return shared->n_done == n_submitted; });
    if (!failure.ok()) return failure;
    if (!shared->error.ok()) return shared->error;
    std::vector<Completion> out;
    out.reserve(requests.size());
    for (Pending& p : *pending) out.push_back(std::move(p.c));
    return out;
  };
}

}  // namespace anvil::eval
