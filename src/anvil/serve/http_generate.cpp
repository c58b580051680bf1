// POST /v1/completions and /v1/chat/completions (see http_server.h): drain and auth checks, parse and
// validate, render the chat template, resolve each prompt (text encoded, or token ids checked), submit
// one scheduler request per choice (prompt x n, sample s seeded seed + s) into one event channel, then
// either wait for every final event and answer one JSON object, or stream SSE chunks as events arrive
// (all events waiting are coalesced into one chunk per choice, of at least --stream-interval tokens each
// after the first). echo puts the prompt (and with logprobs its scores) before the completion.
// A request whose client is gone closes its channel and cancels its scheduler requests, so an abandoned
// request frees its slots instead of generating for nobody: a stream notices when a write fails, and both
// kinds watch their connection's socket while they wait for tokens (peer_socket.h: httplib 0.11 has no
// disconnect signal). Metrics: TTFT and queue time per choice from the scheduler's events, inter-token
// gaps from event arrival times, end-to-end from submit to the last final event; status 499 for a client
// that left (nginx's convention), or a failed stream's error status.
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

// A prompt as the scheduler gets it and as echo returns it.
struct PromptText {
  std::vector<int32_t> ids = {};
  std::string text = {};  // as the client sent it, or the decoded ids
};

// One choice: a prompt (index into Generation::prompts) and one scheduler request sampling it.
struct Choice {
  size_t prompt = 0;
  uint64_t request_id = 0;
  bool saw_token = false, echoed = false, finished = false;
  double last_token_s = 0.0;
  infer::StreamEvent final_event = {};
  CompletionResult out = {};  // whole responses: the text and logprobs so far
  // Streams: this provide() call's text and logprobs (buffers kept, so a streamed token costs no
  // allocations), and the next token's logprobs.text_offset. The offset advances by token bytes, not by
  // the text sent (a token that ends a character mid-way sends its text later), so the offsets equal the
  // whole response's.
  std::string chunk_text = {};
  std::vector<TokenLogprob> chunk_lps = {};
  size_t lp_offset = 0;
  bool finish_sent = false;
};

// State of one generation request, shared by its handler, its content provider and its releaser (all on
// the worker thread that answers it; the scheduler thread only touches `channel`, into which every
// choice's sink pushes).
struct Generation {
  HttpServer::Impl* server = nullptr;
  ApiKind kind = ApiKind::kCompletion;
  std::string endpoint;
  ResponseMeta meta;
  bool stream = false, include_usage = false, logprobs = false;
  // echo: the prompt's text (and, with logprobs, its tokens and their scores) go before the completion,
  // and logprobs' text_offset counts from the prompt's start rather than its end.
  bool echo = false;
  std::vector<PromptText> prompts;
  std::vector<Choice> choices;  // index = prompt * n + sample
  int64_t n = 1;                // choices per prompt
  size_t n_finished = 0;
  double submitted_s = 0.0;
  std::shared_ptr<EventChannel> channel = std::make_shared<EventChannel>();

  bool role_sent = false, ended = false, stream_done = false;
  // provide()'s buffers, kept between calls.
  std::string out_buf;
  std::vector<TimedEvent> event_buf;
  size_t streamed_bytes = 0;
  // Streams: the connection's four-tuple, and its socket once looked up (the first time a wait for tokens
  // outlasts kPeerCheckInterval; -1 when not found), so a client that leaves is noticed without a write.
  httplib::Request peer_key;
  std::optional<int> peer;

  bool finished() const { return n_finished == choices.size(); }
  Choice& choice_of(uint64_t request_id) {
    for (Choice& c : choices)
      if (c.request_id == request_id) return c;
    ANVIL_CHECK(false, "http: an event for request {}, which is not one of this response's", request_id);
    return choices[0];
  }

  // Metrics for one event of choice c; appends its text and logprobs. Returns true on the final event.
  bool consume(const TimedEvent& te, Choice& c, std::string& text, std::vector<TokenLogprob>& lps) {
    const infer::StreamEvent& e = te.event;
    ServeMetrics& m = server->metrics;
    if (echo && !c.echoed && e.error.ok()) {  // the first event after the prompt went in
      const PromptText& p = prompts[c.prompt];
      c.echoed = true;
      text += p.text;
      if (logprobs) {
        const tok::Tokenizer& t = server->sched.tokenizer();
        lps.push_back({.token = t.token_bytes(static_cast<uint32_t>(p.ids[0])), .unscored = true});
        for (const infer::SampledToken& s : e.prompt_logprobs) lps.push_back(token_logprob(s.id, s.logprob, s.top));
      }
    }
    if (e.token >= 0) {
      if (!c.saw_token) {
        m.observe_queue(e.queue_ms / 1000.0);
        m.observe_ttft(e.ttft_ms / 1000.0);
      } else {
        m.observe_inter_token(te.arrived_s - c.last_token_s);
      }
      c.saw_token = true;
      c.last_token_s = te.arrived_s;
      if (logprobs) lps.push_back(token_logprob(e.token, e.logprob, e.top_logprobs));
    }
    text += e.text;
    if (!e.final) return false;
    c.finished = true;
    c.final_event = e;
    ++n_finished;
    if (finished()) m.observe_e2e(te.arrived_s - submitted_s);
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

  std::vector<uint64_t> request_ids() const {
    std::vector<uint64_t> ids;
    for (const Choice& c : choices)
      if (c.request_id != 0) ids.push_back(c.request_id);
    return ids;
  }

  // The request is over (answered, failed or abandoned): metrics and in-flight bookkeeping, once.
  void end(int status) {
    if (ended) return;
    ended = true;
    server->metrics.on_request(endpoint, status);
    server->end_request(request_ids());
  }

  // Client gone: stop the scheduler's work for it.
  void abandon() {
    channel->close();
    for (uint64_t id : request_ids()) server->sched.cancel(id);
    end(499);
  }

  // A non-streamed answer: waits for every choice's final event (watching that the client is still
  // there), then one JSON response, or the error of a failed choice.
  void answer_whole(const httplib::Request& req, httplib::Response& res) {
    for (Choice& c : choices) {
      c.out.with_logprobs = logprobs;
      c.out.text_offset = echo ? 0 : prompts[c.prompt].text.size();
    }
    std::vector<TimedEvent> events;
    // The connection is looked up at the first check only, so requests answered within one interval
    // never pay for the search. -1: not found, the request waits without watching.
    std::optional<int> peer;
    auto next_check = std::chrono::steady_clock::now() + kPeerCheckInterval;
    bool cancelled_rest = false;
    while (!finished()) {
      channel->pop_all_for(events, kPeerCheckInterval);
      for (const TimedEvent& te : events) {
        Choice& c = choice_of(te.event.request_id);
        if (consume(te, c, c.out.text, c.out.logprobs) && !c.final_event.error.ok() && !cancelled_rest) {
          cancelled_rest = true;  // one choice failed: the response is that error, the others stop now
          for (const Choice& o : choices)
            if (!o.finished) server->sched.cancel(o.request_id);
        }
      }
      if (finished() || std::chrono::steady_clock::now() < next_check) continue;
      next_check = std::chrono::steady_clock::now() + kPeerCheckInterval;
      if (!peer) peer = find_connection_socket(req);
      if (*peer >= 0 && peer_gone(*peer)) {
        abandon();  // cancels the scheduler requests (their slots are freed) and counts a 499
        res.status = 499;
        res.set_content(error_body({.http_status = 499, .message = "[http] the client closed the connection"}),
                        "application/json");
        return;
      }
    }
    // A failed choice fails the response: the first error that is not a cancel (the others were cancelled
    // because of it), else the first cancel (a shutdown).
    const Choice* failed = nullptr;
    for (const Choice& c : choices) {
      const Status& e = c.final_event.error;
      if (!e.ok() && (!failed || (failed->final_event.error.code() == StatusCode::kCancelled &&
                                  e.code() != StatusCode::kCancelled)))
        failed = &c;
    }
    if (failed) {
      const ApiError e = api_error(failed->final_event.error);
      res.status = e.http_status;
      res.set_content(error_body(e), "application/json");
      return end(e.http_status);
    }
    std::vector<CompletionResult> outs;
    int64_t n_prompt_tokens = 0;
    for (size_t i = 0; i < choices.size(); ++i) {
      const Choice& c = choices[i];
      CompletionResult out = c.out;
      out.finish = c.final_event.finish;
      out.n_prompt_tokens = c.final_event.n_prompt_tokens;
      out.n_completion_tokens = c.final_event.n_tokens;
      if (i % static_cast<size_t>(n) == 0) n_prompt_tokens += out.n_prompt_tokens;  // each prompt once
      outs.push_back(std::move(out));
    }
    res.set_content(response_body(kind, meta, outs, n_prompt_tokens), "application/json");
    end(200);
  }

  // SSE provider: one call per batch of events, each choice's part of it one chunk (in index order);
  // false ends the response (client gone).
  bool provide(httplib::DataSink& sink) {
    if (stream_done) return false;  // not reached: the stream ended with sink.done()
    std::string& out = out_buf;
    out.clear();
    if (kind == ApiKind::kChat && !role_sent)
      for (size_t i = 0; i < choices.size(); ++i) out += sse_role_chunk(meta, include_usage, static_cast<int64_t>(i));
    role_sent = true;
    // Tokens go out as they come until some text has (time to first token: a first token may complete no
    // character yet); later chunks carry stream_interval tokens per running choice. While waiting (queued,
    // a slow model, a long interval), check now and then that the client is still there.
    const size_t want =
        streamed_bytes > 0 ? static_cast<size_t>(server->opt.stream_interval) * (choices.size() - n_finished) : 1;
    while (!channel->pop_all_for(event_buf, kPeerCheckInterval, want)) {
      if (!peer) peer = find_connection_socket(peer_key);
      if (*peer >= 0 && peer_gone(*peer)) {
        abandon();
        return false;
      }
    }
    for (Choice& c : choices) c.chunk_text.clear(), c.chunk_lps.clear();
    const Choice* failed = nullptr;
    for (const TimedEvent& te : event_buf) {
      Choice& c = choice_of(te.event.request_id);
      if (consume(te, c, c.chunk_text, c.chunk_lps) && !c.final_event.error.ok() && !failed) failed = &c;
    }
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice& c = choices[i];
      const auto index = static_cast<int64_t>(i);
      if (!c.chunk_text.empty() || !c.chunk_lps.empty()) {
        append_sse_text_chunk(out, kind, meta, c.chunk_text, logprobs ? &c.chunk_lps : nullptr, c.lp_offset,
                              include_usage, index);
        streamed_bytes += c.chunk_text.size();
        for (const TokenLogprob& lp : c.chunk_lps) c.lp_offset += lp.token.size();
      }
      if (c.finished && c.final_event.error.ok() && !c.finish_sent) {
        out += sse_finish_chunk(kind, meta, c.final_event.finish, include_usage, index);
        c.finish_sent = true;
      }
    }
    int status = 200;
    if (failed) {  // the stream ends with the error; the other choices stop
      channel->close();
      for (const Choice& c : choices)
        if (!c.finished) server->sched.cancel(c.request_id);
      const ApiError err = api_error(failed->final_event.error);
      status = err.http_status;
      out += sse_error_chunk(err);
    } else if (finished() && include_usage) {
      int64_t n_prompt = 0, n_completion = 0;
      for (size_t i = 0; i < choices.size(); ++i) {
        if (i % static_cast<size_t>(n) == 0) n_prompt += choices[i].final_event.n_prompt_tokens;  // each prompt once
        n_completion += choices[i].final_event.n_tokens;
      }
      out += sse_usage_chunk(kind, meta, n_prompt, n_completion);
    }
    stream_done = failed || finished();
    if (stream_done) out += kSseDone;
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      abandon();
      return false;
    }
    if (stream_done) {
      sink.done();
      end(status);
    }
    return true;
  }
};

// What resolving a prompt needs of the server.
struct PromptRules {
  const tok::Tokenizer& tokenizer;
  int32_t eos_id = -1;
  int64_t max_prompt_tokens = 0, context = 0;
  bool chat = false;
  std::string_view endpoint;
};

// One prompt as ids (text encoded: a chat template's special-token text is the special token, a raw
// completion prompt is plain text, as `anvil generate` encodes it; ids checked against the tokenizer) and
// as text (as given, or the ids decoded, for echo and text_offset), or the 400 naming `param`.
ApiResult<PromptText> resolve_prompt(ApiPrompt& in, const PromptRules& rules, const std::string& param) {
  PromptText p;
  if (in.ids) {
    p.ids = std::move(*in.ids);
    for (size_t k = 0; k < p.ids.size(); ++k)
      if (static_cast<uint64_t>(p.ids[k]) >= rules.tokenizer.vocab_size())
        return ApiError{.message = fmt::format("[{}] {} token {} (index {}) is not in the tokenizer's vocabulary of "
                                               "{} tokens", rules.endpoint, param, p.ids[k], k,
                                               rules.tokenizer.vocab_size()),
                        .param = param};
    Result<std::string> text = rules.tokenizer.decode(std::vector<uint32_t>(p.ids.begin(), p.ids.end()));
    if (!text.ok()) return ApiError{.message = text.status().message(), .param = param};
    p.text = std::move(*text);
  } else {
    const std::vector<uint32_t> encoded = rules.tokenizer.encode(
        in.text, {.special = rules.chat ? tok::SpecialMode::kAllow : tok::SpecialMode::kAsText});
    p.ids.assign(encoded.begin(), encoded.end());
    p.text = std::move(in.text);
  }
  if (p.ids.empty() && rules.eos_id >= 0) p.ids.push_back(rules.eos_id);  // as Generator
  if (p.ids.empty())
    return ApiError{.message = fmt::format("[{}] the prompt is empty and the tokenizer has no end-of-text token to "
                                           "condition on", rules.endpoint),
                    .param = param};
  const auto n_prompt = static_cast<int64_t>(p.ids.size());
  if (n_prompt > rules.max_prompt_tokens)
    return ApiError{.message = fmt::format("[{}] the prompt has {} tokens; this server accepts at most {} (context {}, "
                                           "--max-prompt-tokens)", rules.endpoint, n_prompt, rules.max_prompt_tokens,
                                           rules.context),
                    .param = param,
                    .code = "context_length_exceeded"};
  return p;
}

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
    end_request({});
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

  const tok::Tokenizer& tokenizer = sched.tokenizer();
  for (const infer::TokenBias& b : r.sampling.logit_bias)
    if (static_cast<uint64_t>(b.id) >= tokenizer.vocab_size())
      return fail({.http_status = 400,
                   .message = fmt::format("[{}] logit_bias: token {} is not in the tokenizer's vocabulary of {} tokens",
                                          endpoint, b.id, tokenizer.vocab_size()),
                   .param = "logit_bias"});
  std::vector<PromptText> prompts;
  if (chat) {
    Result<std::string> rendered = chat_template.render(r.messages);
    if (!rendered.ok()) return fail({.http_status = 400, .message = rendered.status().message(), .param = "messages"});
    for (const std::string& s : chat_template.stop())
      if (std::find(r.sampling.stop.begin(), r.sampling.stop.end(), s) == r.sampling.stop.end())
        r.sampling.stop.push_back(s);
    r.prompts.push_back({.text = std::move(*rendered)});
  }
  const PromptRules rules{.tokenizer = tokenizer, .eos_id = sched.eos_id(), .max_prompt_tokens = max_prompt_tokens,
                          .context = sched.config().max_seq, .chat = chat, .endpoint = endpoint};
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const std::string param = chat ? "messages" : r.prompts.size() > 1 ? fmt::format("prompt[{}]", i) : "prompt";
    ApiResult<PromptText> p = resolve_prompt(r.prompts[i], rules, param);
    if (!p.ok()) return fail(p.error());
    prompts.push_back(std::move(p.value()));
  }
  const auto n_choices = static_cast<int64_t>(prompts.size()) * r.n;
  if (n_choices > max_choices)
    return fail({.http_status = 400,
                 .message = fmt::format("[{}] {} prompts x n = {} asks for {} choices; this server holds at most {} "
                                        "sequences at once (--max-running + --max-queue)", endpoint, prompts.size(),
                                        r.n, n_choices, max_choices),
                 .param = "n"});
  const uint64_t n = n_requests.fetch_add(1) + 1;
  const uint64_t seed = r.seed.value_or(opt.seed ^ mix64(n));

  auto g = std::make_shared<Generation>();
  g->server = this;
  g->kind = kind;
  g->endpoint = endpoint;
  g->meta = {.id = fmt::format("{}-{:016x}{:08x}", chat ? "chatcmpl" : "cmpl", mix64(id_salt ^ n), n),
             .model = opt.model_name,
             .created = static_cast<int64_t>(std::time(nullptr)),
             .top_logprobs = r.sampling.top_logprobs};
  g->stream = r.stream;
  g->include_usage = r.include_usage;
  g->logprobs = r.sampling.logprobs;
  g->echo = r.echo;
  g->n = r.n;
  g->prompts = std::move(prompts);
  g->submitted_s = wall_seconds();
  // Choice index = prompt * n + sample; sample s is seeded seed + s, so choice 0 of a prompt is what the
  // same request with n = 1 gives.
  std::shared_ptr<EventChannel> channel = g->channel;
  for (size_t p = 0; p < g->prompts.size(); ++p) {
    for (int64_t k = 0; k < r.n; ++k) {
      infer::ScheduledRequest sr{.prompt_ids = g->prompts[p].ids, .sampling = r.sampling,
                                 .prompt_logprobs = r.echo && r.sampling.logprobs};
      sr.sampling.seed = seed + static_cast<uint64_t>(k);
      Result<uint64_t> id =
          sched.submit(std::move(sr), [channel](const infer::StreamEvent& e) { return channel->push(e); });
      if (!id.ok()) {  // the ones already in are cancelled (their pushes into the closed channel fail too)
        channel->close();
        for (uint64_t done : g->request_ids()) sched.cancel(done);
        ApiError e = api_error(id.status());
        if (e.http_status == 400) e.param = chat ? "messages" : "prompt";
        return fail(e);
      }
      g->choices.push_back({.prompt = p, .request_id = *id, .lp_offset = r.echo ? 0 : g->prompts[p].text.size()});
    }
  }
  for (uint64_t id : g->request_ids()) track_request(id);

  if (g->stream) {
    g->peer_key.remote_addr = req.remote_addr, g->peer_key.remote_port = req.remote_port;
    g->peer_key.local_addr = req.local_addr, g->peer_key.local_port = req.local_port;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [g](size_t, httplib::DataSink& sink) { return g->provide(sink); },
        [g](bool) {
          if (!g->stream_done) g->abandon();  // never reached its end: the client or the connection failed
        });
    return;
  }

  g->answer_whole(req, res);
}

}  // namespace anvil::serve
