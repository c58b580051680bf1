// HttpServer in process, on a tiny random LLaMA-style model with a byte-level tokenizer (no end-of-text
// token, so generations run to max_tokens), talked to with httplib's client: greedy /v1/completions
// equals Generator on the same weights, the SSE stream adds up to the same text and ends with [DONE],
// with --stream-interval N every chunk after the first with text carries N tokens (the last: the rest),
// a client that stops reading mid-stream gets its request cancelled (noticed by the failed write, or by
// watching the socket while a --stream-interval chunk fills), shutdown() lets an in-flight stream
// finish while new requests get 503, httplib's own errors (413, 404) come back as OpenAI JSON, a known
// route asked with the wrong method is a 405 with Allow, a second server cannot bind a port in use,
// accepted sockets send at once (TCP_NODELAY) and the listen backlog holds a burst of connections,
// top_logprobs are the log-softmax of the Engine's own logits at each position (completions and chat,
// whole and streamed), echo scores a token-id prompt the same way, logit_bias forces and bans tokens,
// several prompts with n choices each equal
// lone requests, and a non-streamed request whose client leaves is cancelled and frees its slot.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "anvil/infer/engine.h"
#include "anvil/infer/generator.h"
#include "anvil/serve/http_server.h"

namespace anvil::serve {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
constexpr int64_t kMaxBody = 4096;
constexpr double kLogprobTol = 1e-4;  // scheduler (batched) vs Engine logits, float softmax vs double
constexpr auto kPatience = std::chrono::seconds(20);  // for conditions that take milliseconds when all is well

tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  auto t = tok::Tokenizer::create(std::move(p));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(*t);
}

model::Transformer make_model(const char* config, uint64_t seed) {
  auto cfg = model::parse_config(config);
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(*cfg);
  EXPECT_TRUE(m.ok());
  m->init_weights(seed);
  return std::move(*m);
}

model::Transformer tiny_model() {
  return make_model(R"({"model_type":"llama","vocab_size":256,"hidden_size":32,"intermediate_size":64,
                        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                        "max_position_embeddings":512,"initializer_range":0.5})",
                    11);
}

// Big enough that 2000 tokens take seconds on 2 cores, so a client can leave long before the end.
model::Transformer slow_model() {
  return make_model(R"({"model_type":"llama","vocab_size":256,"hidden_size":256,"intermediate_size":512,
                        "num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":4,
                        "max_position_embeddings":2048,"initializer_range":0.5})",
                    5);
}

bool wait_for(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!pred() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return pred();
}

class Http : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = infer::Scheduler::create(tiny_model(), byte_tokenizer(), sched_opt_);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    sched_ = std::move(*s);
    metrics_ = std::make_unique<ServeMetrics>("tiny");
    auto h = HttpServer::start(*sched_, sched_opt_, *metrics_, template_,
                               {.port = 0, .model_name = "tiny", .max_body_bytes = kMaxBody});
    ASSERT_TRUE(h.ok()) << h.status().to_string();
    server_ = std::move(*h);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    if (server_) server_->shutdown();
    server_.reset();
    if (sched_) sched_->drain();
  }

  json post(const std::string& path, const json& body, int want_status = 200) {
    auto r = client_->Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r) << httplib::to_string(r.error());
    if (!r) return {};
    EXPECT_EQ(r->status, want_status) << r->body;
    return json::parse(r->body);
  }

  infer::SchedulerOptions sched_opt_{.max_running = 4, .max_queue = 8};
  infer::ChatTemplate template_ = infer::ChatTemplate::default_template();
  std::unique_ptr<infer::Scheduler> sched_;
  std::unique_ptr<ServeMetrics> metrics_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(Http, GreedyCompletionEqualsGenerator) {
  const std::string prompt = "Once upon a time";
  const json r = post("/v1/completions", {{"model", "tiny"}, {"prompt", prompt}, {"max_tokens", 32}, {"temperature", 0}});
  auto gen = infer::Generator::create(tiny_model(), byte_tokenizer());
  ASSERT_TRUE(gen.ok());
  auto want = gen->generate(prompt, {.temperature = 0.0f, .max_tokens = 32});
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(r["choices"][0]["text"], json(want->text).get<std::string>());
  EXPECT_EQ(r["usage"]["prompt_tokens"], static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(r["usage"]["completion_tokens"], 32);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
}

// Reads an SSE response body into the JSON of its chunks; `done` = it ended with [DONE].
std::vector<json> sse_events(const std::string& body, bool& done) {
  std::vector<json> out;
  done = false;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) break;
    const std::string block = body.substr(at, end - at);
    at = end + 2;
    if (block == "data: [DONE]") done = true;
    else if (block.rfind("data: ", 0) == 0) out.push_back(json::parse(block.substr(6)));
  }
  return out;
}

TEST_F(Http, StreamAddsUpToTheWholeResponse) {
  const json req = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 20},
                    {"temperature", 0}};
  const json whole = post("/v1/chat/completions", req);
  json sreq = req;
  sreq["stream"] = true;
  sreq["stream_options"] = {{"include_usage", true}};
  auto r = client_->Post("/v1/chat/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  bool done = false;
  const std::vector<json> ev = sse_events(r->body, done);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(done);
  EXPECT_EQ(ev[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (const json& e : ev)
    if (!e["choices"].empty()) text += e["choices"][0]["delta"].value("content", "");
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(ev[ev.size() - 2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(ev.back()["usage"], whole["usage"]);
}

TEST_F(Http, StreamIntervalPutsThatManyTokensInEachChunk) {
  // A second server on the same scheduler whose SSE chunks wait for 4 tokens (after the first).
  auto h = HttpServer::start(*sched_, sched_opt_, *metrics_, template_,
                             {.port = 0, .model_name = "tiny", .max_body_bytes = kMaxBody, .stream_interval = 4});
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  httplib::Client client("127.0.0.1", (*h)->port());
  const json req = {{"model", "tiny"}, {"prompt", "Once"}, {"max_tokens", 64}, {"temperature", 0}, {"logprobs", 0}};
  const json whole = post("/v1/completions", req);
  json sreq = req;
  sreq["stream"] = true;
  auto r = client.Post("/v1/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  bool done = false;
  std::vector<size_t> per_chunk;  // tokens in each chunk that carries any
  size_t first_text = SIZE_MAX;   // the chunk that first carried text: until then tokens go out one by one
  std::string text;
  for (const json& e : sse_events(r->body, done)) {
    const json& lp = e["choices"][0]["logprobs"];
    if (lp.is_object()) per_chunk.push_back(lp["tokens"].size());
    text += e["choices"][0].value("text", "");
    if (!text.empty() && first_text == SIZE_MAX) first_text = per_chunk.size() - 1;
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, whole["choices"][0]["text"].get<std::string>());
  ASSERT_GE(per_chunk.size(), 1u);  // one when the handler first looks after the last token (a busy machine)
  EXPECT_EQ(std::accumulate(per_chunk.begin(), per_chunk.end(), size_t{0}), 64u);
  for (size_t i = first_text + 1; i + 1 < per_chunk.size(); ++i) EXPECT_GE(per_chunk[i], 4u) << "chunk " << i;
  (*h)->shutdown();
}

// A server on slow_model(): its 2000 tokens cannot all be generated before a client that left is noticed,
// even on a loaded machine (the tiny model could finish first).
class HttpCancel : public ::testing::Test {
 protected:
  void start(int64_t stream_interval) {
    auto sched = infer::Scheduler::create(slow_model(), byte_tokenizer(), sched_opt_);
    ASSERT_TRUE(sched.ok()) << sched.status().to_string();
    sched_ = std::move(*sched);
    auto server = HttpServer::start(*sched_, sched_opt_, metrics_, template_,
                                    {.port = 0, .model_name = "slow", .stream_interval = stream_interval});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->shutdown();
    if (sched_) sched_->drain();
  }
  // Streams 2000 tokens and stops reading after `n_reads` pieces of the body; then waits for the cancel.
  void leave_after(int n_reads) {
    httplib::Client client("127.0.0.1", server_->port());
    const json req = {{"model", "slow"}, {"prompt", "go"}, {"max_tokens", 2000}, {"stream", true}};
    int n_chunks = 0;
    httplib::Request hr;
    hr.method = "POST";
    hr.path = "/v1/completions";
    hr.body = req.dump();
    hr.set_header("Content-Type", "application/json");
    hr.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++n_chunks < n_reads; };
    auto r = client.send(hr);
    EXPECT_FALSE(r);  // the client aborted the read
    client.stop();    // and closes its connection (httplib may keep it after an aborted read)
    EXPECT_TRUE(wait_for([&] { return sched_->stats().n_cancelled >= 1; })) << "the stream was not cancelled";
    EXPECT_EQ(sched_->stats().n_cancelled, 1u);
    EXPECT_EQ(sched_->stats().n_completed, 0u);  // it never ran to its 2000 tokens
  }

  const infer::SchedulerOptions sched_opt_{.max_running = 2, .max_queue = 2};
  ServeMetrics metrics_{"slow"};
  const infer::ChatTemplate template_ = infer::ChatTemplate::default_template();
  std::unique_ptr<infer::Scheduler> sched_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpCancel, ClientThatStopsReadingCancelsTheStream) {
  start(1);
  leave_after(2);  // the next write fails
}

TEST_F(HttpCancel, ClientThatLeavesWhileAChunkFillsCancelsTheStream) {
  start(4096);  // more than its 2000 tokens: no write after the first text, only watching the socket can tell
  leave_after(1);
}

TEST_F(Http, ShutdownFinishesInFlightStreamAndRefusesNewRequests) {
  const json req = {{"model", "tiny"}, {"prompt", "long"}, {"max_tokens", 480}, {"temperature", 0}, {"stream", true}};
  std::atomic<bool> first_bytes{false};
  std::string body;
  std::thread streamer([&] {
    httplib::Client c("127.0.0.1", server_->port());
    httplib::Request hr;
    hr.method = "POST";
    hr.path = "/v1/completions";
    hr.body = req.dump();
    hr.set_header("Content-Type", "application/json");
    hr.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      body.append(d, n);
      if (!first_bytes) {
        first_bytes = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // shutdown begins while we hold on
      }
      return true;
    };
    auto r = c.send(hr);
    EXPECT_TRUE(r) << httplib::to_string(r.error());
  });
  while (!first_bytes) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_->begin_drain();
  const json refused = post("/v1/completions", {{"model", "tiny"}, {"prompt", "late"}}, 503);
  EXPECT_EQ(refused["error"]["code"], "draining");
  server_->shutdown();  // returns only after the stream's last byte
  streamer.join();
  bool done = false;
  const std::vector<json> ev = sse_events(body, done);
  EXPECT_TRUE(done);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev.back()["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(sched_->stats().n_completed, 1u);
}

TEST_F(Http, LibraryErrorsComeBackAsOpenAiJson) {
  auto big = client_->Post("/v1/completions", std::string(kMaxBody + 1, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body)["error"]["code"], "request_too_large");
  // A chunked body has no Content-Length: the limit holds while it is read.
  auto chunked = client_->Post(
      "/v1/completions",
      [](size_t offset, httplib::DataSink& sink) {
        const std::string piece(1024, ' ');
        if (offset < 4 * kMaxBody) return sink.write(piece.data(), piece.size());
        sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 413);
  EXPECT_EQ(json::parse(chunked->body)["error"]["code"], "request_too_large");
  auto none = client_->Get("/nope");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(json::parse(none->body)["error"]["type"], "invalid_request_error");
  const std::string m = metrics_->render(sched_->stats());
  EXPECT_NE(m.find(R"(endpoint="/v1/completions",status="413"} 2)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(endpoint="other",status="404"} 1)"), std::string::npos) << m;
}

TEST_F(Http, PortInUseIsAnError) {
  auto second = HttpServer::start(*sched_, sched_opt_, *metrics_, template_,
                                  {.port = server_->port(), .model_name = "tiny"});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(std::to_string(server_->port())), std::string::npos);
}

// The sockets of this process whose local port is `port`, as (fd, listening?).
std::vector<std::pair<int, bool>> sockets_on_port(int port) {
  std::vector<std::pair<int, bool>> out;
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sin_family != AF_INET ||
        ntohs(a.sin_port) != port)
      continue;
    int listening = 0;
    socklen_t n = sizeof(listening);
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n);
    out.emplace_back(fd, listening != 0);
  }
  return out;
}

// Streamed chunks leave at once (TCP_NODELAY on the accepted socket: with Nagle's algorithm a chunk
// waited for the ACK of the one before, up to 40 ms), and the accept queue holds a burst of connections
// (httplib's own backlog is 5: 8 clients starting together lost handshakes and waited 1 s each). For a
// listening socket Linux reports the backlog bound in tcp_info's tcpi_sacked.
TEST_F(Http, AcceptedSocketsSendAtOnceAndTheAcceptQueueHoldsABurst) {
  httplib::Client keep("127.0.0.1", server_->port());
  keep.set_keep_alive(true);  // the connection (and the server's socket) stays open after the request
  auto r = keep.Post("/v1/completions", R"({"model":"tiny","prompt":"ab","max_tokens":2,"stream":true})",
                     "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  int n_listening = 0, n_accepted = 0;
  for (const auto& [fd, listening] : sockets_on_port(server_->port())) {
    if (listening) {
      tcp_info info{};
      socklen_t n = sizeof(info);
      ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &n), 0);
      EXPECT_GE(info.tcpi_sacked, 128u) << "listen backlog";
      ++n_listening;
    } else {
      int nodelay = 0;
      socklen_t n = sizeof(nodelay);
      ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &n), 0);
      EXPECT_EQ(nodelay, 1) << "accepted socket " << fd;
      ++n_accepted;
    }
  }
  EXPECT_EQ(n_listening, 1);
  EXPECT_GE(n_accepted, 1);
}

// log-softmax of one logits row, in double.
std::vector<double> log_softmax(const std::vector<float>& l) {
  double mx = -INFINITY, sum = 0.0;
  for (float x : l) mx = std::max(mx, static_cast<double>(x));
  for (float x : l) sum += std::exp(x - mx);
  std::vector<double> out(l.size());
  for (size_t i = 0; i < l.size(); ++i) out[i] = l[i] - mx - std::log(sum);
  return out;
}

// The byte tokenizer's id for a /v1/completions token name ("bytes:\xNN" for bytes >= 0x80).
int32_t completion_token_id(const std::string& name) {
  if (name.rfind("bytes:\\x", 0) == 0) return static_cast<int32_t>(std::stoi(name.substr(8), nullptr, 16));
  EXPECT_EQ(name.size(), 1u) << name;
  return static_cast<unsigned char>(name[0]);
}

// Replays `prompt` + `chosen` through an Engine on the server's weights: the log-softmax at each position.
std::vector<std::vector<double>> reference_logprobs(const std::string& prompt, const std::vector<int32_t>& chosen) {
  model::Transformer m = tiny_model();
  auto engine = infer::Engine::create(m, {.n_slots = 1});
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  std::vector<float> logits(static_cast<size_t>(engine->vocab_size()));
  std::vector<int32_t> ids;
  for (unsigned char c : prompt) ids.push_back(c);
  EXPECT_TRUE(engine->prefill(0, ids, 0, logits.data()).ok());
  std::vector<std::vector<double>> out;
  for (size_t k = 0; k < chosen.size(); ++k) {
    out.push_back(log_softmax(logits));
    EXPECT_TRUE(engine->decode(0, chosen[k], static_cast<int64_t>(ids.size() + k), logits.data()).ok());
  }
  return out;
}

// Checks one completions logprobs object against the Engine: each position's top_logprobs holds the
// n most likely tokens in order with their log-softmax values, then the chosen token when it is not
// among them; token_logprobs is the chosen token's log-softmax.
// n_extra: how many positions listed the chosen token after the top n.
void expect_completion_top_logprobs(const ojson& lp, const std::string& prompt, size_t n, size_t& n_extra) {
  n_extra = 0;
  std::vector<int32_t> chosen;
  for (const auto& t : lp["tokens"]) chosen.push_back(completion_token_id(t.get<std::string>()));
  const auto ref = reference_logprobs(prompt, chosen);
  ASSERT_EQ(lp["top_logprobs"].size(), chosen.size());
  for (size_t k = 0; k < chosen.size(); ++k) {
    const std::vector<double>& r = ref[k];
    std::vector<int32_t> order(r.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return r[a] > r[b]; });
    EXPECT_NEAR(lp["token_logprobs"][k].get<double>(), r[static_cast<size_t>(chosen[k])], kLogprobTol) << k;
    const ojson& top = lp["top_logprobs"][k];
    const bool chosen_in_top = std::find(order.begin(), order.begin() + static_cast<long>(n), chosen[k]) !=
                               order.begin() + static_cast<long>(n);
    ASSERT_EQ(top.size(), chosen_in_top ? n : n + 1) << top.dump();
    size_t rank = 0;
    double prev = 0.0;
    for (const auto& [name, value] : top.items()) {
      const int32_t id = completion_token_id(name);
      const double v = value.get<double>();
      if (rank < n) {
        EXPECT_EQ(id, order[rank]) << "position " << k << " rank " << rank;
        if (rank > 0) {
          EXPECT_LE(v, prev) << "position " << k << " not sorted";
        }
        prev = v;
      } else {
        ++n_extra;
        EXPECT_EQ(id, chosen[k]) << "position " << k << ": the extra entry is the chosen token";
      }
      EXPECT_NEAR(v, r[static_cast<size_t>(id)], kLogprobTol) << "position " << k << " rank " << rank;
      ++rank;
    }
  }
}

TEST_F(Http, CompletionTopLogprobsAreTheEnginesLogSoftmax) {
  constexpr size_t kN = 5;
  const std::string prompt = "Once upon";
  // Sampled (not greedy): the chosen token is sometimes outside the top N and then listed after them.
  const json req = {{"model", "tiny"}, {"prompt", prompt}, {"max_tokens", 24}, {"temperature", 1.5}, {"seed", 7},
                    {"logprobs", kN}};
  auto r = client_->Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const ojson whole = ojson::parse(r->body)["choices"][0]["logprobs"];
  size_t n_extra = 0;
  expect_completion_top_logprobs(whole, prompt, kN, n_extra);
  EXPECT_GT(n_extra, 0u) << "no position sampled a token outside the top N: the +1 entry is untested";

  // Streamed: the chunks' logprobs add up to the same arrays (the same seed samples the same tokens).
  json sreq = req;
  sreq["stream"] = true;
  auto sr = client_->Post("/v1/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(sr);
  bool done = false;
  json tokens = json::array(), tops = json::array();
  for (const json& e : sse_events(sr->body, done)) {
    const json& lp = e["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    for (const json& t : lp["tokens"]) tokens.push_back(t);
    for (const json& t : lp["top_logprobs"]) tops.push_back(t);
  }
  EXPECT_TRUE(done);
  const json want = json::parse(whole.dump());
  EXPECT_EQ(tokens, want["tokens"]);
  ASSERT_EQ(tops.size(), want["top_logprobs"].size());
  for (size_t k = 0; k < tops.size(); ++k) {
    EXPECT_EQ(tops[k].size(), want["top_logprobs"][k].size()) << k;
    for (const auto& [name, value] : want["top_logprobs"][k].items())
      EXPECT_NEAR(tops[k].value(name, 1.0), value.get<double>(), kLogprobTol) << k << " " << name;
  }
}

// echo (what lm-evaluation-harness sends to score a prompt): the prompt, given as token ids, comes back
// before the completion; with logprobs, its first token has null logprobs and every later one its
// log-softmax given the tokens before it (the Engine's, as for generated tokens), with text_offset
// counting from the prompt's start. Streamed, the chunks add up to the same; without logprobs only the text
// is echoed; an id outside the tokenizer is a 400.
TEST_F(Http, EchoScoresATokenIdPrompt) {
  constexpr size_t kN = 2;
  const std::string prompt = "Once upon a time";
  json ids = json::array();
  for (unsigned char c : prompt) ids.push_back(c);
  const json plain = post("/v1/completions", {{"model", "tiny"}, {"prompt", prompt}, {"max_tokens", 3},
                                              {"temperature", 0}});
  const std::string completion = plain["choices"][0]["text"];
  json req = {{"model", "tiny"}, {"prompt", json::array({ids})}, {"max_tokens", 3}, {"temperature", 0},
              {"logprobs", kN}, {"echo", true}};
  auto r = client_->Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const ojson whole = ojson::parse(r->body)["choices"][0];
  EXPECT_EQ(whole["text"], prompt + completion);
  const ojson& lp = whole["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), prompt.size() + 3);
  EXPECT_EQ(lp["tokens"][0], "O");
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  for (size_t k = 0; k < lp["text_offset"].size(); ++k) EXPECT_EQ(lp["text_offset"][k], k);  // one byte per token
  // Positions 1.. against the Engine, as for generated tokens: prompt[0] is the context, the rest chosen.
  ojson scored = ojson::object();
  for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
    scored[key] = ojson::array();
    for (size_t k = 1; k < lp[key].size(); ++k) scored[key].push_back(lp[key][k]);
  }
  size_t n_extra = 0;
  expect_completion_top_logprobs(scored, prompt.substr(0, 1), kN, n_extra);
  EXPECT_GT(n_extra, 0u) << "every prompt token was among the top " << kN << ": the +1 entry is untested";

  // Streamed: the same text, tokens, logprobs and offsets.
  req["stream"] = true;
  auto sr = client_->Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(sr);
  bool done = false;
  std::string text;
  json streamed = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"text_offset", json::array()}};
  for (const json& e : sse_events(sr->body, done)) {
    text += e["choices"][0].value("text", "");
    const json& l = e["choices"][0]["logprobs"];
    if (l.is_null()) continue;
    for (const auto& [key, arr] : streamed.items())
      for (const json& v : l[key]) arr.push_back(v);
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, prompt + completion);
  const json want = json::parse(lp.dump());
  EXPECT_EQ(streamed["tokens"], want["tokens"]);
  EXPECT_EQ(streamed["text_offset"], want["text_offset"]);
  ASSERT_EQ(streamed["token_logprobs"].size(), want["token_logprobs"].size());
  EXPECT_TRUE(streamed["token_logprobs"][0].is_null());
  for (size_t k = 1; k < want["token_logprobs"].size(); ++k)
    EXPECT_NEAR(streamed["token_logprobs"][k].get<double>(), want["token_logprobs"][k].get<double>(), kLogprobTol) << k;

  // Echo without logprobs: the text only. A flat id array works as well.
  const json echoed = post("/v1/completions", {{"model", "tiny"}, {"prompt", ids}, {"max_tokens", 3},
                                               {"temperature", 0}, {"echo", true}});
  EXPECT_EQ(echoed["choices"][0]["text"], prompt + completion);
  EXPECT_TRUE(echoed["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(echoed["usage"]["prompt_tokens"], prompt.size());

  // max_tokens 0: only the prompt, scored the same (lm-evaluation-harness's older loglikelihood request).
  const json only = post("/v1/completions", {{"model", "tiny"}, {"prompt", ids}, {"max_tokens", 0}, {"logprobs", kN},
                                             {"echo", true}});
  EXPECT_EQ(only["choices"][0]["text"], prompt);
  EXPECT_EQ(only["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(only["usage"]["completion_tokens"], 0);
  const json& olp = only["choices"][0]["logprobs"];
  ASSERT_EQ(olp["tokens"].size(), prompt.size());
  for (size_t k = 1; k < prompt.size(); ++k)
    EXPECT_NEAR(olp["token_logprobs"][k].get<double>(), want["token_logprobs"][k].get<double>(), kLogprobTol) << k;

  const json bad = post("/v1/completions", {{"model", "tiny"}, {"prompt", {1, 256}}, {"max_tokens", 1}}, 400);
  EXPECT_EQ(bad["error"]["param"], "prompt");
  EXPECT_NE(bad["error"]["message"].get<std::string>().find("prompt token 256 (index 1) is not in the tokenizer's "
                                                            "vocabulary of 256"),
            std::string::npos)
      << bad.dump();
}

// Several prompts with n choices each: choice prompt * n + s is what a lone request for that prompt with
// seed + s gives, bit for bit (the scheduler batches them; batching changes nothing); usage counts each
// prompt once; streamed, each index's chunks add up to its choice. More choices than the server holds at once, or a bad id in one prompt, is a 400 naming it.
TEST_F(Http, SeveralPromptsWithNChoicesEqualLoneRequests) {
  const std::vector<json> prompts = {"Once upon", json::array({72, 105}), "The cat"};
  const int n = 3;
  const json req = {{"model", "tiny"}, {"prompt", prompts}, {"n", n}, {"max_tokens", 12}, {"temperature", 1.2},
                    {"seed", 40}, {"logprobs", 1}};
  const json all = post("/v1/completions", req);
  ASSERT_EQ(all["choices"].size(), prompts.size() * n);
  int64_t prompt_tokens = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int k = 0; k < n; ++k) {
      const json lone = post("/v1/completions", {{"model", "tiny"}, {"prompt", prompts[p]}, {"max_tokens", 12},
                                                 {"temperature", 1.2}, {"seed", 40 + k}, {"logprobs", 1}});
      const json& c = all["choices"][p * n + k];
      EXPECT_EQ(c["index"], p * n + k);
      EXPECT_EQ(c["text"], lone["choices"][0]["text"]) << "prompt " << p << " sample " << k;
      EXPECT_EQ(c["logprobs"], lone["choices"][0]["logprobs"]) << "prompt " << p << " sample " << k;
      if (k == 0) prompt_tokens += lone["usage"]["prompt_tokens"].get<int64_t>();
    }
  }
  EXPECT_NE(all["choices"][0]["text"], all["choices"][1]["text"]);

  // Streamed: each index's chunks add up to that choice (text and logprobs), each ends with its own
  // finish chunk, then one usage chunk with the same totals and [DONE].
  json sreq = req;
  sreq["stream"] = true;
  sreq["stream_options"] = {{"include_usage", true}};
  auto sr = client_->Post("/v1/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(sr);
  ASSERT_EQ(sr->status, 200) << sr->body;
  bool done = false;
  const size_t n_choices = prompts.size() * n;
  std::vector<std::string> texts(n_choices);
  std::vector<json> tokens(n_choices, json::array()), offsets(n_choices, json::array());
  std::vector<int> finishes(n_choices, 0);
  json usage;
  for (const json& e : sse_events(sr->body, done)) {
    if (!e["usage"].is_null()) usage = e["usage"];
    for (const json& ch : e["choices"]) {
      const size_t i = ch["index"];
      ASSERT_LT(i, n_choices);
      EXPECT_EQ(finishes[i], 0) << "a chunk for choice " << i << " after its finish";
      texts[i] += ch["text"].get<std::string>();
      if (!ch["finish_reason"].is_null()) ++finishes[i];
      if (ch["logprobs"].is_null()) continue;
      for (const json& t : ch["logprobs"]["tokens"]) tokens[i].push_back(t);
      for (const json& t : ch["logprobs"]["text_offset"]) offsets[i].push_back(t);
    }
  }
  EXPECT_TRUE(done);
  for (size_t i = 0; i < n_choices; ++i) {
    EXPECT_EQ(texts[i], all["choices"][i]["text"]) << i;
    EXPECT_EQ(tokens[i], all["choices"][i]["logprobs"]["tokens"]) << i;
    EXPECT_EQ(offsets[i], all["choices"][i]["logprobs"]["text_offset"]) << i;
    EXPECT_EQ(finishes[i], 1) << i;
  }
  EXPECT_EQ(usage, all["usage"]);
  EXPECT_EQ(all["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(all["usage"]["completion_tokens"], prompts.size() * n * 12);

  const json many = post("/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"n", 13}, {"max_tokens", 1}}, 400);
  EXPECT_EQ(many["error"]["param"], "n");
  EXPECT_NE(many["error"]["message"].get<std::string>().find("at most 12 sequences"), std::string::npos) << many.dump();
  const json bad = post("/v1/completions", {{"model", "tiny"}, {"prompt", {"ok", {1, 999}}}, {"max_tokens", 1}}, 400);
  EXPECT_EQ(bad["error"]["param"], "prompt[1]");
  EXPECT_EQ(sched_->stats().running + sched_->stats().waiting, 0);
}

// logit_bias: +100 on one byte makes every sampled token that byte (greedy and sampled), -100 on the greedy
// choice's first token changes the greedy text; an id outside the tokenizer is a 400 naming logit_bias.
TEST_F(Http, LogitBiasForcesAndBansTokens) {
  for (const double t : {0.0, 1.0}) {
    const json forced = post("/v1/completions", {{"model", "tiny"}, {"prompt", "Once"}, {"max_tokens", 10},
                                                 {"temperature", t}, {"seed", 1}, {"logit_bias", {{"122", 100}}}});
    EXPECT_EQ(forced["choices"][0]["text"], std::string(10, 'z')) << "temperature " << t;
  }
  const json plain = post("/v1/completions", {{"model", "tiny"}, {"prompt", "Once"}, {"max_tokens", 1},
                                              {"temperature", 0}, {"logprobs", 0}});
  const std::string first = plain["choices"][0]["logprobs"]["tokens"][0];
  const int32_t first_id = completion_token_id(first);
  const json banned = post("/v1/completions", {{"model", "tiny"}, {"prompt", "Once"}, {"max_tokens", 1},
                                               {"temperature", 0}, {"logprobs", 0},
                                               {"logit_bias", {{std::to_string(first_id), -100}}}});
  EXPECT_NE(banned["choices"][0]["logprobs"]["tokens"][0], first);
  const json bad = post("/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"logit_bias", {{"256", 1}}}}, 400);
  EXPECT_EQ(bad["error"]["param"], "logit_bias");
}

TEST_F(Http, ChatTopLogprobsAndZero) {
  constexpr size_t kN = 20;  // OpenAI's largest
  const json msgs = {{{"role", "user"}, {"content", "hi"}}};
  const json r = post("/v1/chat/completions", {{"model", "tiny"}, {"messages", msgs}, {"max_tokens", 12},
                                               {"temperature", 0}, {"logprobs", true}, {"top_logprobs", kN}});
  const json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 12u);
  for (const json& t : content) {
    const json& top = t["top_logprobs"];
    ASSERT_EQ(top.size(), kN);
    for (size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1]["logprob"].get<double>(), top[i]["logprob"].get<double>());
    // Greedy: the chosen token is the most likely one, with the same logprob (one definition for both).
    EXPECT_EQ(top[0]["bytes"], t["bytes"]);
    EXPECT_EQ(top[0]["logprob"], t["logprob"]);
    double mass = 0.0;
    for (const json& alt : top) mass += std::exp(alt["logprob"].get<double>());
    EXPECT_LE(mass, 1.0 + kLogprobTol);
  }
  // N = 0: the chosen token's logprob only.
  const json zero = post("/v1/chat/completions", {{"model", "tiny"}, {"messages", msgs}, {"max_tokens", 3},
                                                  {"logprobs", true}, {"top_logprobs", 0}});
  for (const json& t : zero["choices"][0]["logprobs"]["content"]) EXPECT_EQ(t["top_logprobs"], json::array());
  const json cz = post("/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 3}, {"logprobs", 0}});
  EXPECT_TRUE(cz["choices"][0]["logprobs"]["top_logprobs"].is_null());
  EXPECT_EQ(cz["choices"][0]["logprobs"]["token_logprobs"].size(), 3u);
  // Bounds, as OpenAI: completions 0..5, chat 0..20 and only with logprobs: true.
  EXPECT_EQ(post("/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"logprobs", 6}}, 400)["error"]["param"],
            "logprobs");
  EXPECT_EQ(post("/v1/chat/completions", {{"model", "tiny"}, {"messages", msgs}, {"logprobs", true}, {"top_logprobs", 21}},
                 400)["error"]["param"],
            "top_logprobs");
  EXPECT_EQ(post("/v1/chat/completions", {{"model", "tiny"}, {"messages", msgs}, {"top_logprobs", 2}}, 400)["error"]["param"],
            "top_logprobs");
}

TEST_F(Http, WrongMethodOnAKnownRouteIs405WithAllow) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c : {Case{"GET", "/v1/completions", "POST"}, Case{"PUT", "/v1/chat/completions", "POST"},
                        Case{"OPTIONS", "/v1/completions", "POST"}, Case{"POST", "/v1/models", "GET, HEAD"},
                        Case{"DELETE", "/v1/models/tiny", "GET, HEAD"}, Case{"POST", "/health", "GET, HEAD"},
                        Case{"POST", "/metrics", "GET, HEAD"}}) {
    httplib::Request hr;
    hr.method = c.method;
    hr.path = c.path;
    if (std::string(c.method) != "GET" && std::string(c.method) != "OPTIONS") {
      hr.body = R"({"model":"tiny","prompt":"x"})";  // read and dropped: the connection stays usable
      hr.set_header("Content-Type", "application/json");
    }
    auto r = client_->send(hr);
    ASSERT_TRUE(r) << c.method << " " << c.path;
    EXPECT_EQ(r->status, 405) << c.method << " " << c.path;
    EXPECT_EQ(r->get_header_value("Allow"), c.allow) << c.method << " " << c.path;
    const json e = json::parse(r->body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_EQ(e["code"], "method_not_allowed");
    EXPECT_NE(e["message"].get<std::string>().find(std::string(c.method) + " " + c.path), std::string::npos) << e;
  }
  // Paths that are no route stay 404, whatever the method.
  for (const auto& [method, path] : {std::pair{"GET", "/v1/nope"}, std::pair{"POST", "/nope"}, std::pair{"GET", "/v1/models/"}}) {
    httplib::Request hr;
    hr.method = method;
    hr.path = path;
    auto r = client_->send(hr);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << method << " " << path;
    EXPECT_FALSE(r->has_header("Allow"));
  }
  const std::string m = metrics_->render(sched_->stats());
  EXPECT_NE(m.find(R"(endpoint="/v1/completions",status="405"} 2)"), std::string::npos) << m;
}

TEST(HttpDisconnect, NonStreamedRequestWhoseClientLeavesIsCancelledAndFreesItsSlot) {
  const infer::SchedulerOptions so{.max_running = 1, .max_queue = 4};
  auto sched = infer::Scheduler::create(slow_model(), byte_tokenizer(), so);
  ASSERT_TRUE(sched.ok()) << sched.status().to_string();
  ServeMetrics metrics("slow");
  const infer::ChatTemplate tmpl = infer::ChatTemplate::default_template();
  auto server = HttpServer::start(**sched, so, metrics, tmpl, {.port = 0, .model_name = "slow"});
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  const int port = (*server)->port();

  // A raw client: sends the request, waits until the model is generating for it, then closes.
  const std::string body = json{{"model", "slow"}, {"prompt", "leave"}, {"max_tokens", 2000}, {"temperature", 0}}.dump();
  const std::string msg = fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      "Content-Length: {}\r\n\r\n{}", body.size(), body);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(write(fd, msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  infer::Scheduler& s = **sched;
  ASSERT_TRUE(wait_for([&] { return s.stats().running == 1 && s.stats().n_forwards >= 3; }));
  close(fd);

  EXPECT_TRUE(wait_for([&] { return s.stats().n_cancelled == 1; })) << "the abandoned request was not cancelled";
  EXPECT_EQ(s.stats().n_completed, 0u);  // it never ran to its 2000 tokens
  // Its slot (the only one) is free: the next request runs.
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/completions", json{{"model", "slow"}, {"prompt", "next"}, {"max_tokens", 4}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 4);
  EXPECT_EQ(s.stats().n_completed, 1u);
  const std::string m = metrics.render(s.stats());
  EXPECT_NE(m.find(R"(endpoint="/v1/completions",status="499"} 1)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(outcome="cancelled"} 1)"), std::string::npos) << m;
  (*server)->shutdown();
  s.drain();
}

}  // namespace
}  // namespace anvil::serve
