// Scheduler (see scheduler.h). Threads: callers touch only the queue, the cancel set and the stats, under
// mu_; everything else (slots, SequenceStates, the engine, sinks) belongs to the scheduler thread. One step:
// take cancels -> admit from the queue into free slots -> batch = decode tokens of running sequences,
// then prefill chunks in admission order within max_batch_tokens -> Engine::forward (logits of each run's
// last row, and of every prompt row a request scores) -> prompt scores, then SequenceState::step for every
// sequence whose row predicts a new token (OpenMP over runs: each touches only its own sequence) -> events,
// serially in run order -> free finished slots.
#include "anvil/infer/scheduler.h"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "anvil/infer/engine.h"
#include "anvil/infer/sequence.h"

namespace anvil::infer {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// How many leading positions of `prompt` a sequence can take from a cache computed on `held`: their common
// prefix, less the prompt's last token (its row must go through the forward: it gives the first logits).
int64_t reusable_prefix(const std::vector<int32_t>& prompt, const std::vector<int32_t>& held) {
  const auto common = std::mismatch(prompt.begin(), prompt.end(), held.begin(), held.end()).first - prompt.begin();
  return std::min<int64_t>(common, static_cast<int64_t>(prompt.size()) - 1);
}

Status cancelled(uint64_t id, const char* why) {
  return Status(StatusCode::kCancelled, fmt::format("[infer.scheduler] request {} cancelled: {}", id, why));
}

}  // namespace

struct Scheduler::Impl {
  struct Request {
    uint64_t id = 0;
    ScheduledRequest req;
    StreamSink sink;
    Clock::time_point t_submit;
  };
  // A request holding a slot (scheduler thread only).
  struct Running {
    Request r;
    int64_t slot = 0;
    std::optional<SequenceState> seq;
    int64_t n_prefilled = 0;  // prompt positions in the cache
    int32_t next_token = -1;  // sampled, to decode at position `pos` (once the prompt is in)
    int64_t pos = 0;
    double queue_ms = 0.0, ttft_ms = 0.0;
    int64_t n_tokens = 0;
    std::vector<SampledToken> prompt_scores;  // prompt_logprobs: prompt tokens scored so far (1..)
    // Prefix sharing: waiting to copy positions [0, share_len) from slot share_from, held by request
    // share_donor (a slot freed meanwhile may hold another request).
    bool share_checked = false;
    int64_t share_from = -1, share_len = 0;
    uint64_t share_donor = 0;
    bool prefilling() const { return n_prefilled < static_cast<int64_t>(r.req.prompt_ids.size()); }
  };

  SchedulerOptions opt;
  std::unique_ptr<tok::Tokenizer> tok;
  std::optional<Engine> engine;
  int32_t eos = -1;
  int64_t max_seq = 0;
  int n_threads = 1;  // OpenMP threads of the forward: the creating thread's setting

  mutable std::mutex mu;
  std::condition_variable wake;   // the scheduler thread: work, a cancel or stop
  std::condition_variable idle;   // drain(): nothing queued or running
  std::deque<Request> waiting;
  std::unordered_set<uint64_t> cancels;
  uint64_t next_id = 1;
  int64_t in_flight = 0;  // accepted requests whose final event has not been sent yet
  bool draining = false, stopping = false;
  SchedulerStats stats;

  // Scheduler thread only.
  std::vector<std::optional<Running>> slots;
  std::vector<int64_t> order;  // running slots in admission order
  // Per slot: the token each cached position was computed from. Kept when its sequence ends, so a later
  // prompt that starts the same way can take the slot and skip those positions; last_used orders the free
  // slots (least recently used first when none matches).
  std::vector<std::vector<int32_t>> cached;
  std::vector<uint64_t> last_used;
  uint64_t use_clock = 0;
  std::vector<TokenInput> batch;
  struct RunRows {
    int64_t slot, first, n;  // its logits rows [first, first + n): the last row, or every row when scoring
  };
  std::vector<RunRows> runs;  // per run of the forward, in batch order
  std::vector<float> logits;
  std::vector<SeqStep> run_step;   // per run: what sampling gave (when run_sampled)
  std::vector<Status> run_status;
  std::vector<char> run_sampled;
  std::thread thread;

  void loop();
  // Sends the final event and releases the slot; counts the outcome.
  void finish(Running& run, const std::string& tail, const Status& error);
  void fail_waiting(Request& r, const Status& error);
  // Sends one event; false when the sink asked to cancel.
  static bool send(Running& run, StreamEvent e);
  Status step();
  // Prefix sharing (scheduler.h): finds each new sequence's donor, copies what donors have ready.
  void share_prefixes();
  // The free slot for a new request: the one whose cached positions share the longest prefix (at least
  // kMinSharedPrefix) with its prompt, else the least recently used; -1 when none is free. `reuse`: the
  // positions it can keep (at most the prompt's length - 1).
  int64_t pick_slot(const ScheduledRequest& req, int64_t& reuse) const;
};

bool Scheduler::Impl::send(Running& run, StreamEvent e) {
  e.request_id = run.r.id;
  e.n_prompt_tokens = static_cast<int64_t>(run.r.req.prompt_ids.size());
  e.n_tokens = run.n_tokens;
  e.queue_ms = run.queue_ms;
  e.ttft_ms = run.ttft_ms;
  if (!run.prompt_scores.empty() && !run.prefilling()) e.prompt_logprobs = std::move(run.prompt_scores);
  return run.r.sink(e);
}

void Scheduler::Impl::finish(Running& run, const std::string& tail, const Status& error) {
  StreamEvent e;
  e.text = tail, e.final = true, e.error = error;
  if (run.seq) e.finish = run.seq->finish();
  const int64_t slot = run.slot;  // its cache stays, for a later prompt with the same start (pick_slot)
  last_used[static_cast<size_t>(slot)] = ++use_clock;
  order.erase(std::find(order.begin(), order.end(), slot));
  {  // stats first: a consumer that reads them after its final event sees this request counted
    std::lock_guard<std::mutex> lock(mu);
    if (error.ok()) ++stats.n_completed;
    else if (error.code() == StatusCode::kCancelled) ++stats.n_cancelled;
    else ++stats.n_failed;
    stats.running = static_cast<int64_t>(order.size());
    stats.kv_used_tokens = 0;
    for (int64_t s : order) stats.kv_used_tokens += engine->cache().length(s);
  }
  send(run, std::move(e));
  slots[static_cast<size_t>(slot)].reset();  // `run` dies here
  std::lock_guard<std::mutex> lock(mu);
  --in_flight;
}

void Scheduler::Impl::fail_waiting(Request& r, const Status& error) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (error.code() == StatusCode::kCancelled) ++stats.n_cancelled;
    else ++stats.n_failed;
  }
  StreamEvent e;
  e.request_id = r.id, e.final = true, e.error = error;
  e.n_prompt_tokens = static_cast<int64_t>(r.req.prompt_ids.size());
  r.sink(e);
  std::lock_guard<std::mutex> lock(mu);
  --in_flight;
}

int64_t Scheduler::Impl::pick_slot(const ScheduledRequest& req, int64_t& reuse) const {
  int64_t best = -1, lru = -1;
  reuse = 0;
  for (size_t s = 0; s < slots.size(); ++s) {
    if (slots[s]) continue;
    if (lru < 0 || last_used[s] < last_used[static_cast<size_t>(lru)]) lru = static_cast<int64_t>(s);
    if (req.prompt_logprobs) continue;  // every prompt row must go through the forward
    const int64_t len = reusable_prefix(req.prompt_ids, cached[s]);
    if (len >= kMinSharedPrefix && len > reuse) best = static_cast<int64_t>(s), reuse = len;
  }
  return best >= 0 ? best : lru;
}

void Scheduler::Impl::share_prefixes() {
  for (size_t k = 0; k < order.size(); ++k) {
    Running& run = *slots[static_cast<size_t>(order[k])];
    if (!run.share_checked) {
      run.share_checked = true;
      // The earlier sequence (not itself waiting) with the longest common prompt prefix. Not for prompts
      // being scored: every row of those must go through the forward.
      for (size_t j = 0; j < k && !run.r.req.prompt_logprobs; ++j) {
        const Running& d = *slots[static_cast<size_t>(order[j])];
        if (d.share_from >= 0) continue;
        const int64_t len = reusable_prefix(run.r.req.prompt_ids, d.r.req.prompt_ids);
        if (len >= kMinSharedPrefix && len > run.share_len && len > run.n_prefilled)
          run.share_from = d.slot, run.share_len = len, run.share_donor = d.r.id;
      }
    }
    if (run.share_from < 0) continue;
    const std::optional<Running>& d = slots[static_cast<size_t>(run.share_from)];
    if (!d || d->r.id != run.share_donor) {  // the donor left first: prefill it all
      run.share_from = -1;
      continue;
    }
    if (d->n_prefilled < run.share_len) continue;  // not in its cache yet
    engine->cache().copy_prefix(run.share_from, run.slot, run.share_len);
    const auto& from = cached[static_cast<size_t>(run.share_from)];
    cached[static_cast<size_t>(run.slot)].assign(from.begin(), from.begin() + run.share_len);
    run.n_prefilled = run.share_len;
    run.share_from = -1;
    std::lock_guard<std::mutex> lock(mu);
    stats.n_prefix_tokens_reused += static_cast<uint64_t>(run.share_len);
  }
}

Status Scheduler::Impl::step() {
  const int64_t V = engine->vocab_size();
  share_prefixes();
  // Decode tokens first (one per running sequence past its prompt), then prefill chunks in admission order.
  // Logits: each run's last row, and every prefill row of a request that scores its prompt.
  batch.clear();
  runs.clear();
  int64_t n_rows = 0;
  for (int64_t s : order) {
    const Running& run = *slots[static_cast<size_t>(s)];
    if (run.prefilling()) continue;
    batch.push_back(TokenInput{.slot = s, .token = run.next_token, .pos = run.pos, .want_logits = true});
    runs.push_back(RunRows{.slot = s, .first = n_rows++, .n = 1});
  }
  const size_t n_decode = batch.size();
  int64_t n_scored = 0;  // prompt rows scored this step: at most prefill_chunk (bounds the logits buffer)
  for (int64_t s : order) {
    const Running& run = *slots[static_cast<size_t>(s)];
    const auto budget = opt.max_batch_tokens - static_cast<int64_t>(batch.size());
    if (!run.prefilling() || budget <= 0 || run.share_from >= 0) continue;  // (waiting for its prefix)
    const auto& p = run.r.req.prompt_ids;
    const bool score = run.r.req.prompt_logprobs;
    const int64_t n = std::min({opt.prefill_chunk, budget, static_cast<int64_t>(p.size()) - run.n_prefilled,
                                score ? opt.prefill_chunk - n_scored : opt.prefill_chunk});
    if (n <= 0) continue;  // scoring, and this step's scored rows are taken
    if (score) n_scored += n;
    for (int64_t i = 0; i < n; ++i)
      batch.push_back(TokenInput{.slot = s, .token = p[static_cast<size_t>(run.n_prefilled + i)],
                                 .pos = run.n_prefilled + i, .want_logits = score || i == n - 1});
    runs.push_back(RunRows{.slot = s, .first = n_rows, .n = score ? n : 1});
    n_rows += score ? n : 1;
  }
  if (batch.empty()) return ok_status();
  if (static_cast<int64_t>(logits.size()) < n_rows * V) logits.resize(static_cast<size_t>(n_rows * V));
  ANVIL_ASSIGN_OR_RETURN(int64_t got_rows, engine->forward(batch, LogitsFor::kMarked, logits.data()));
  ANVIL_CHECK(got_rows == n_rows, "scheduler: {} logits rows, expected {}", got_rows, n_rows);
  for (const TokenInput& t : batch) {  // what each slot's cache now holds
    std::vector<int32_t>& c = cached[static_cast<size_t>(t.slot)];
    c.resize(static_cast<size_t>(t.pos));
    c.push_back(t.token);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stats.n_prefill_tokens += batch.size() - n_decode;
    stats.last_batch_tokens = static_cast<int64_t>(batch.size());
    stats.max_logits_rows = std::max(stats.max_logits_rows, n_rows);
    ++stats.n_forwards;
    stats.kv_used_tokens = 0;
    for (int64_t s : order) stats.kv_used_tokens += engine->cache().length(s);
  }
  // Sampling (softmax for logprobs, stop strings, detokenisation) and prompt scoring are per sequence and
  // touch only that sequence's state and logits rows, so the runs are sampled in parallel; events and
  // finishing stay serial, in run order.
  const auto now = Clock::now();
  const auto n_runs = static_cast<int64_t>(runs.size());
  run_step.resize(static_cast<size_t>(n_runs));
  run_status.assign(static_cast<size_t>(n_runs), ok_status());
  run_sampled.assign(static_cast<size_t>(n_runs), 0);
  auto sample_run = [&](int64_t k) {
    const RunRows& rr = runs[static_cast<size_t>(k)];
    Running& run = *slots[static_cast<size_t>(rr.slot)];
    if (run.prefilling()) {
      if (run.r.req.prompt_logprobs) {  // row i (position n_prefilled + i) predicts the prompt token after it
        const auto& p = run.r.req.prompt_ids;
        for (int64_t i = 0; i < rr.n; ++i) {
          const auto next = static_cast<size_t>(run.n_prefilled + i + 1);
          if (next < p.size()) run.prompt_scores.push_back(run.seq->score(logits.data() + (rr.first + i) * V, p[next]));
        }
      }
      run.n_prefilled = engine->cache().length(run.slot);
      if (run.prefilling()) return;  // more chunks to go; no row predicts a new token yet
      run.pos = run.n_prefilled;
      if (run.r.req.sampling.max_tokens == 0) {  // prefill only: done, nothing sampled
        SeqStep done;
        done.done = true, done.finish = FinishReason::kLength;
        run_step[static_cast<size_t>(k)] = std::move(done);
        run_sampled[static_cast<size_t>(k)] = 1;
        return;
      }
    } else {
      ++run.pos;  // next_token went in at pos
    }
    Result<SeqStep> s = run.seq->step(logits.data() + (rr.first + rr.n - 1) * V, run.pos, max_seq);
    if (!s.ok()) {
      run_status[static_cast<size_t>(k)] = s.status();
      return;
    }
    run_step[static_cast<size_t>(k)] = std::move(*s);
    run_sampled[static_cast<size_t>(k)] = 1;
  };
  // One run: no parallel region at all (a region of one thread between the forward's regions of n_threads
  // made single-stream decoding measurably slower with libgomp).
  if (n_runs == 1 || n_threads == 1) {
    for (int64_t k = 0; k < n_runs; ++k) sample_run(k);
  } else {
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int64_t k = 0; k < n_runs; ++k) sample_run(k);
  }
  for (const Status& st : run_status) ANVIL_RETURN_IF_ERROR(st);
  for (int64_t k = 0; k < n_runs; ++k) {
    if (!run_sampled[static_cast<size_t>(k)]) continue;
    Running& run = *slots[static_cast<size_t>(runs[static_cast<size_t>(k)].slot)];
    SeqStep& s = run_step[static_cast<size_t>(k)];
    if (run.pos == run.n_prefilled) run.ttft_ms = ms_between(run.r.t_submit, now);
    bool alive = true;
    if (s.emitted) {
      ++run.n_tokens;
      StreamEvent e;
      e.token = s.id, e.logprob = s.logprob, e.top_logprobs = std::move(s.top), e.text = std::move(s.text);
      alive = send(run, std::move(e));
    }
    if (!alive) finish(run, {}, cancelled(run.r.id, "the consumer went away"));
    else if (s.done) finish(run, run.seq->finish_tail(), ok_status());
    else run.next_token = s.id;
  }
  return ok_status();
}

void Scheduler::Impl::loop() {
  pthread_setname_np(pthread_self(), "anvil-sched");  // tells it apart in top -H / perf
  omp_set_num_threads(n_threads);  // a new thread starts from the default, not the creator's setting
  for (;;) {
    std::vector<Request> dropped;  // cancelled while still queued
    std::vector<int64_t> cancel_running;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait(lock, [&] { return stopping || !waiting.empty() || !order.empty() || !cancels.empty(); });
      stop = stopping;
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (stop || cancels.erase(it->id)) {
          dropped.push_back(std::move(*it));
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
      for (int64_t s : order)
        if (stop || cancels.erase(slots[static_cast<size_t>(s)]->r.id)) cancel_running.push_back(s);
      cancels.clear();  // ids of requests already finished (or never known)
      const auto now = Clock::now();
      while (!stop && !waiting.empty()) {
        int64_t reuse = 0;
        const int64_t s = pick_slot(waiting.front().req, reuse);
        if (s < 0) break;  // no slot free
        Running run;
        run.r = std::move(waiting.front()), run.slot = s;
        waiting.pop_front();
        run.queue_ms = ms_between(run.r.t_submit, now);
        run.seq.emplace(*tok, run.r.req.sampling, engine->vocab_size(), eos, run.r.req.prompt_ids);
        engine->cache().set_length(s, reuse);  // the positions its prompt shares with what the slot holds
        cached[static_cast<size_t>(s)].resize(static_cast<size_t>(reuse));
        run.n_prefilled = reuse;
        stats.n_prefix_tokens_reused += static_cast<uint64_t>(reuse);
        slots[static_cast<size_t>(s)] = std::move(run);
        order.push_back(s);
      }
      stats.waiting = static_cast<int64_t>(waiting.size());
      stats.running = static_cast<int64_t>(order.size());  // before unlocking: drain() reads it
    }
    for (Request& r : dropped)
      fail_waiting(r, cancelled(r.id, stop ? "the scheduler is shutting down" : "cancel() while queued"));
    for (int64_t s : cancel_running)
      finish(*slots[static_cast<size_t>(s)], {},
             cancelled(slots[static_cast<size_t>(s)]->r.id, stop ? "the scheduler is shutting down" : "cancel()"));
    if (stop) break;

    const Status st = step();
    if (!st.ok()) {  // the engine refused a batch: an invariant broke; fail what runs, keep serving
      const std::vector<int64_t> failed = order;
      for (int64_t s : failed) {
        finish(*slots[static_cast<size_t>(s)], {}, st);
        cached[static_cast<size_t>(s)].clear();  // nothing of it is trusted again
        engine->cache().clear(s);
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    stats.kv_used_tokens = 0;
    for (int64_t s : order) stats.kv_used_tokens += engine->cache().length(s);
    if (in_flight == 0) idle.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu);
  stats.running = 0, stats.kv_used_tokens = 0, stats.waiting = 0;
  idle.notify_all();
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(model::Transformer model, tok::Tokenizer tokenizer,
                                                     const SchedulerOptions& opt) {
  const auto n_tok = static_cast<int64_t>(tokenizer.vocab_size());
  if (n_tok > model.config().vocab_size)
    return invalid_argument("[infer.scheduler] the tokenizer has {} tokens but the model only {} embeddings", n_tok,
                            model.config().vocab_size);
  if (opt.max_running <= 0 || opt.max_queue < 0 || opt.prefill_chunk <= 0 || opt.max_batch_tokens < opt.max_running)
    return invalid_argument("[infer.scheduler] need max_running > 0 (got {}), max_queue >= 0 (got {}), prefill_chunk "
                            "> 0 (got {}), max_batch_tokens >= max_running (got {})",
                            opt.max_running, opt.max_queue, opt.prefill_chunk, opt.max_batch_tokens);
  auto impl = std::make_unique<Impl>();
  impl->opt = opt;
  impl->tok = std::make_unique<tok::Tokenizer>(std::move(tokenizer));
  ANVIL_ASSIGN_OR_RETURN(Engine e, Engine::create(model, {.n_slots = opt.max_running, .max_seq = opt.max_seq,
                                                          .max_batch_tokens = opt.max_batch_tokens,
                                                          .kv_dtype = opt.kv_dtype}));
  impl->engine.emplace(std::move(e));  // the model goes when create() returns
  impl->eos = find_eos_id(*impl->tok);
  impl->max_seq = impl->engine->cache().max_seq();
  impl->slots.resize(static_cast<size_t>(opt.max_running));
  impl->cached.resize(static_cast<size_t>(opt.max_running));
  impl->last_used.assign(static_cast<size_t>(opt.max_running), 0);
  impl->order.reserve(static_cast<size_t>(opt.max_running));
  impl->batch.reserve(static_cast<size_t>(opt.max_batch_tokens));
  impl->logits.resize(static_cast<size_t>(opt.max_running * impl->engine->vocab_size()));
  impl->stats.kv_capacity_tokens = opt.max_running * impl->max_seq;
  impl->n_threads = omp_get_max_threads();
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->loop(); });
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(impl)));
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

Result<uint64_t> Scheduler::submit(ScheduledRequest request, StreamSink sink) {
  Impl& m = *impl_;
  if (!sink) return invalid_argument("[infer.scheduler] submit without a sink");
  const auto n_prompt = static_cast<int64_t>(request.prompt_ids.size());
  ANVIL_RETURN_IF_ERROR(validate_request(request.prompt_ids, request.sampling,
                                         static_cast<int64_t>(m.tok->vocab_size()), "infer.scheduler", 0));
  if (request.prompt_logprobs && !request.sampling.logprobs)
    return invalid_argument("[infer.scheduler] prompt_logprobs needs sampling.logprobs");
  if (n_prompt >= m.max_seq)
    return invalid_argument("[infer.scheduler] prompt of {} tokens leaves no room in a context of {} (max_seq)",
                            n_prompt, m.max_seq);
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.draining || m.stopping) return unavailable("[infer.scheduler] draining: no new requests are accepted");
    // Queued requests that free slots will take at the next step do not count against max_queue.
    const int64_t free_slots = m.opt.max_running - m.stats.running;
    if (static_cast<int64_t>(m.waiting.size()) >= m.opt.max_queue + free_slots)
      return resource_exhausted("[infer.scheduler] queue full: {} requests waiting (max_queue {}), {} running",
                                m.waiting.size(), m.opt.max_queue, m.stats.running);
    id = m.next_id++;
    ++m.in_flight;
    m.waiting.push_back(Impl::Request{.id = id, .req = std::move(request), .sink = std::move(sink),
                                      .t_submit = Clock::now()});
    m.stats.waiting = static_cast<int64_t>(m.waiting.size());
  }
  m.wake.notify_one();
  return id;
}

void Scheduler::cancel(uint64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (request_id == 0 || request_id >= impl_->next_id) return;
    impl_->cancels.insert(request_id);
  }
  impl_->wake.notify_one();
}

void Scheduler::drain() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->draining = true;
  impl_->idle.wait(lock, [&] {
    return impl_->stopping || impl_->in_flight == 0;
  });
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

const tok::Tokenizer& Scheduler::tokenizer() const { return *impl_->tok; }
const model::ModelConfig& Scheduler::config() const { return impl_->engine->config(); }
int32_t Scheduler::eos_id() const { return impl_->eos; }

}  // namespace anvil::infer
