// POST /v1/completions and /v1/chat/completions (see http_server.h): drain and auth checks, parse and
// validate, render the chat template, encode, enforce the prompt limit, submit to the scheduler, then
// either wait for the final event and answer one JSON object, or stream SSE chunks as events arrive
// (all events waiting are coalesced into one chunk, of at least --stream-interval tokens after the first).
// A request whose client is gone closes its channel and cancels the scheduler request, so an abandoned
// request frees its slot instead of generating for nobody: a stream notices when a write fails, and both
// kinds watch their connection's socket while they wait for tokens (peer_socket.h: httplib 0.11 has no
// disconnect signal). Metrics: TTFT and
// queue time from the scheduler's event, inter-token gaps from event arrival times, end-to-end from
// submit to the final event; status 499 for a client that left (nginx's convention), or a failed
// stream's error status.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>

#include "anvil/serve/http_impl.h"
#include "anvil/serve/peer_socket.h"

namespace anvil::serve {
namespace {

// How often a request checks that its client is still connected while it waits for tokens.
constexpr auto kPeerCheckInterval = std::chrono::milliseconds(20);

// State of one generation request, shared by its handler, its content provider and its releaser (all on
// the worker thread that answers it; the scheduler thread only touches `channel`).
struct Generation {
  HttpServer::Impl* server = nullptr;
  ApiKind kind = ApiKind::kCompletion;
  std::string endpoint;
  ResponseMeta meta;
  bool stream = false, include_usage = false, logprobs = false;
  size_t prompt_bytes = 0;
  // echo: the prompt's text (and, with logprobs, its tokens and their scores) go before the completion,
  // and logprobs' text_offset counts from the prompt's start rather than its end.
  bool echo = false, echoed = false;
  std::string echo_text;
  std::vector<int32_t> prompt_ids;
  double submitted_s = 0.0;
  uint64_t request_id = 0;
  std::shared_ptr<EventChannel> channel = std::make_shared<EventChannel>();

  bool role_sent = false, saw_token = false, finished = false, ended = false;
  // provide()'s buffers, kept between calls so a streamed token costs no allocations.
  std::string out_buf, text_buf;
  std::vector<TimedEvent> event_buf;
  std::vector<TokenLogprob> lp_buf;
  double last_token_s = 0.0;
  size_t streamed_bytes = 0;
  // Streams: the next token's logprobs.text_offset. It advances by token bytes, not by the text sent (a
  // token that ends a character mid-way sends its text later), so the offsets equal the whole response's.
  size_t lp_offset = 0;
  // Streams: the connection's four-tuple, and its socket once looked up (the first time a wait for tokens
  // outlasts kPeerCheckInterval; -1 when not found), so a client that leaves is noticed without a write.
  httplib::Request peer_key;
  std::optional<int> peer;
  infer::StreamEvent final_event;

  // Metrics for one event; appends its text and logprob. Returns true on the final event.
  bool consume(const TimedEvent& te, std::string& text, std::vector<TokenLogprob>& lps) {
    const infer::StreamEvent& e = te.event;
    ServeMetrics& m = server->metrics;
    if (echo && !echoed && e.error.ok()) {  // the first event after the prompt went in
      echoed = true;
      text += echo_text;
      if (logprobs) {
        const tok::Tokenizer& t = server->sched.tokenizer();
        lps.push_back({.token = t.token_bytes(static_cast<uint32_t>(prompt_ids[0])), .unscored = true});
        for (const infer::SampledToken& p : e.prompt_logprobs) lps.push_back(token_logprob(p.id, p.logprob, p.top));
      }
    }
    if (e.token >= 0) {
      if (!saw_token) {
        m.observe_queue(e.queue_ms / 1000.0);
        m.observe_ttft(e.ttft_ms / 1000.0);
      } else {
        m.observe_inter_token(te.arrived_s - last_token_s);
      }
      saw_token = true;
      last_token_s = te.arrived_s;
      if (logprobs) lps.push_back(token_logprob(e.token, e.logprob, e.top_logprobs));
    }
    text += e.text;
    if (!e.final) return false;
    finished = true;
    final_event = e;
    m.observe_e2e(te.arrived_s - submitted_s);
    m.on_tokens(e.n_prompt_tokens, e.n_tokens);
    return true;
  }

  TokenLogprob token_logprob(int32_t id, float logprob, const std::vector<infer::TopLogprob>& top) const {
    const tok::Tokenizer& t = server->sched.tokenizer();
    TokenLogprob lp{.token = t.token_bytes(static_cast<uint32_t>(id)), .logprob = logprob};
    lp.top.reserve(top.size());
    for (const infer::TopLogprob& alt : top)
      lp.top.push_back({.token = t.token_bytes(static_cast<uint32_t>(alt.id)), .logprob = alt.logprob});
    return lp;
  }

  // The request is over (answered, failed or abandoned): metrics and in-flight bookkeeping, once.
  void end(int status) {
    if (ended) return;
    ended = true;
    server->metrics.on_request(endpoint, status);
    server->end_request(request_id);
  }

  // Client gone: stop the scheduler's work for it.
  void abandon() {
    channel->close();
    server->sched.cancel(request_id);
    end(499);
  }

  // SSE provider: one call per batch of events; false ends the response (client gone).
  bool provide(httplib::DataSink& sink) {
    if (finished) return false;  // not reached: the stream ended with sink.done()
    std::string& out = out_buf;
    out.clear();
    if (kind == ApiKind::kChat && !role_sent) out += sse_role_chunk(meta, include_usage);
    role_sent = true;
    // Tokens go out as they come until some text has (time to first token: a first token may complete no
    // character yet); later chunks carry stream_interval tokens. While waiting (queued, a slow model, a
    // long interval), check now and then that the client is still there.
    const size_t want = streamed_bytes > 0 ? static_cast<size_t>(server->opt.stream_interval) : 1;
    while (!channel->pop_all_for(event_buf, kPeerCheckInterval, want)) {
      if (!peer) peer = find_connection_socket(peer_key);
      if (*peer >= 0 && peer_gone(*peer)) {
        abandon();
        return false;
      }
    }
    std::string& text = text_buf;
    std::vector<TokenLogprob>& lps = lp_buf;
    text.clear();
    lps.clear();
    for (const TimedEvent& te : event_buf)
      if (consume(te, text, lps)) break;
    if (!text.empty() || !lps.empty()) {
      append_sse_text_chunk(out, kind, meta, text, logprobs ? &lps : nullptr, lp_offset, include_usage);
      streamed_bytes += text.size();
      for (const TokenLogprob& lp : lps) lp_offset += lp.token.size();
    }
    int status = 200;
    if (finished) {
      if (!final_event.error.ok()) {
        const ApiError err = api_error(final_event.error);
        status = err.http_status;
        out += sse_error_chunk(err);
      } else {
        out += sse_finish_chunk(kind, meta, final_event.finish, include_usage);
        if (include_usage) out += sse_usage_chunk(kind, meta, final_event.n_prompt_tokens, final_event.n_tokens);
      }
      out += kSseDone;
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      abandon();
      return false;
    }
    if (finished) {
      sink.done();
      end(status);
    }
    return true;
  }
};


uint64_t mix64(uint64_t x) {  // splitmix64 finaliser: distinct, well-spread default seeds
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void HttpServer::Impl::handle_generate(const httplib::Request& req, const std::string& body, httplib::Response& res,
                                       ApiKind kind) {
  const bool chat = kind == ApiKind::kChat;
  const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  begin_request();
  auto fail = [&](const ApiError& e) {
    reply_error(res, endpoint, e);
    end_request(std::nullopt);
  };
  if (draining)
    return fail({.http_status = 503,
                 .message = "[http] the server is shutting down and takes no new requests",
                 .type = "server_error",
                 .code = "draining"});
  if (!authorized(req))
    return fail({.http_status = 401,
                 .message = "[http] missing or wrong API key: send 'Authorization: Bearer <key>'",
                 .code = "invalid_api_key"});
  ApiResult<ApiRequest> parsed = parse_request(body, kind, opt.limits);
  if (!parsed.ok()) return fail(parsed.error());
  ApiRequest& r = parsed.value();
  if (r.model != opt.model_name)
    return fail({.http_status = 404,
                 .message = fmt::format("[{}] the model '{}' does not exist; this server serves '{}'", endpoint, r.model,
                                        opt.model_name),
                 .param = "model",
                 .code = "model_not_found"});

  std::string prompt = std::move(r.prompt);
  if (chat) {
    Result<std::string> rendered = chat_template.render(r.messages);
    if (!rendered.ok()) return fail({.http_status = 400, .message = rendered.status().message(), .param = "messages"});
    prompt = std::move(*rendered);
    for (const std::string& s : chat_template.stop())
      if (std::find(r.sampling.stop.begin(), r.sampling.stop.end(), s) == r.sampling.stop.end())
        r.sampling.stop.push_back(s);
  }
  // Chat templates may contain special tokens (<|im_start|>, ...); a raw completion prompt is plain text,
  // as `anvil generate` encodes it.
  const tok::Tokenizer& tokenizer = sched.tokenizer();
  infer::ScheduledRequest sr;
  if (r.prompt_ids) {  // token ids: checked here, so that the echo's decode below sees only known ids
    sr.prompt_ids = std::move(*r.prompt_ids);
    for (size_t i = 0; i < sr.prompt_ids.size(); ++i)
      if (static_cast<uint64_t>(sr.prompt_ids[i]) >= tokenizer.vocab_size())
        return fail({.http_status = 400,
                     .message = fmt::format("[{}] prompt token {} (index {}) is not in the tokenizer's vocabulary "
                                            "of {} tokens", endpoint, sr.prompt_ids[i], i, tokenizer.vocab_size()),
                     .param = "prompt"});
    Result<std::string> text =
        tokenizer.decode(std::vector<uint32_t>(sr.prompt_ids.begin(), sr.prompt_ids.end()));
    if (!text.ok()) return fail({.http_status = 400, .message = text.status().message(), .param = "prompt"});
    prompt = std::move(*text);
  } else {
    const std::vector<uint32_t> encoded =
        tokenizer.encode(prompt, {.special = chat ? tok::SpecialMode::kAllow : tok::SpecialMode::kAsText});
    sr.prompt_ids.assign(encoded.begin(), encoded.end());
  }
  if (sr.prompt_ids.empty() && sched.eos_id() >= 0) sr.prompt_ids.push_back(sched.eos_id());  // as Generator
  const char* prompt_param = chat ? "messages" : "prompt";
  if (sr.prompt_ids.empty())
    return fail({.http_status = 400,
                 .message = fmt::format("[{}] the prompt is empty and the tokenizer has no end-of-text token to "
                                        "condition on", endpoint),
                 .param = prompt_param});
  const auto n_prompt = static_cast<int64_t>(sr.prompt_ids.size());
  if (n_prompt > max_prompt_tokens)
    return fail({.http_status = 400,
                 .message = fmt::format("[{}] the prompt has {} tokens; this server accepts at most {} (context {}, "
                                        "--max-prompt-tokens)", endpoint, n_prompt, max_prompt_tokens,
                                        sched.config().max_seq),
                 .param = prompt_param,
                 .code = "context_length_exceeded"});
  const uint64_t n = n_requests.fetch_add(1) + 1;
  sr.sampling = std::move(r.sampling);
  sr.sampling.seed = r.seed.value_or(opt.seed ^ mix64(n));
  sr.prompt_logprobs = r.echo && sr.sampling.logprobs;

  auto g = std::make_shared<Generation>();
  g->server = this;
  g->kind = kind;
  g->endpoint = endpoint;
  g->meta = {.id = fmt::format("{}-{:016x}{:08x}", chat ? "chatcmpl" : "cmpl", mix64(id_salt ^ n), n),
             .model = opt.model_name,
             .created = static_cast<int64_t>(std::time(nullptr)),
             .top_logprobs = sr.sampling.top_logprobs};
  g->stream = r.stream;
  g->include_usage = r.include_usage;
  g->logprobs = sr.sampling.logprobs;
  g->prompt_bytes = prompt.size();
  g->echo = r.echo;
  g->lp_offset = g->echo ? 0 : g->prompt_bytes;
  if (g->echo) g->echo_text = prompt, g->prompt_ids = sr.prompt_ids;
  g->submitted_s = wall_seconds();
  std::shared_ptr<EventChannel> channel = g->channel;
  Result<uint64_t> id = sched.submit(std::move(sr), [channel](const infer::StreamEvent& e) { return channel->push(e); });
  if (!id.ok()) {
    ApiError e = api_error(id.status());
    if (e.http_status == 400) e.param = prompt_param;
    return fail(e);
  }
  g->request_id = *id;
  track_request(*id);

  if (g->stream) {
    g->peer_key.remote_addr = req.remote_addr, g->peer_key.remote_port = req.remote_port;
    g->peer_key.local_addr = req.local_addr, g->peer_key.local_port = req.local_port;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [g](size_t, httplib::DataSink& sink) { return g->provide(sink); },
        [g](bool) {
          if (!g->finished) g->abandon();  // never reached its end: the client or the connection failed
        });
    return;
  }

  CompletionResult out{.with_logprobs = g->logprobs, .text_offset = g->echo ? 0 : g->prompt_bytes};
  std::vector<TimedEvent> events;
  // The connection is looked up at the first check only, so requests answered within one interval
  // never pay for the search. -1: not found, the request waits without watching.
  std::optional<int> peer;
  auto next_check = std::chrono::steady_clock::now() + kPeerCheckInterval;
  while (!g->finished) {
    channel->pop_all_for(events, kPeerCheckInterval);
    for (const TimedEvent& te : events)
      if (g->consume(te, out.text, out.logprobs)) break;
    if (g->finished || std::chrono::steady_clock::now() < next_check) continue;
    next_check = std::chrono::steady_clock::now() + kPeerCheckInterval;
    if (!peer) peer = find_connection_socket(req);
    if (*peer >= 0 && peer_gone(*peer)) {
      g->abandon();  // cancels the scheduler request (its slot is freed) and counts a 499
      res.status = 499;
      res.set_content(error_body({.http_status = 499, .message = "[http] the client closed the connection"}),
                      "application/json");
      return;
    }
  }
  const infer::StreamEvent& fin = g->final_event;
  if (!fin.error.ok()) {
    const ApiError e = api_error(fin.error);
    res.status = e.http_status;
    res.set_content(error_body(e), "application/json");
    return g->end(e.http_status);
  }
  out.finish = fin.finish;
  out.n_prompt_tokens = fin.n_prompt_tokens;
  out.n_completion_tokens = fin.n_tokens;
  res.set_content(response_body(kind, g->meta, out), "application/json");
  g->end(200);
}

}  // namespace anvil::serve
