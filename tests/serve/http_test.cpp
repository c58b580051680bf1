// HttpServer in process, on a tiny random LLaMA-style model with a byte-level tokenizer (no end-of-text
// token, so generations run to max_tokens), talked to with httplib's client: greedy /v1/completions
// equals Generator on the same weights, the SSE stream adds up to the same text and ends with [DONE],
// a client that stops reading mid-stream gets its request cancelled, shutdown() lets an in-flight stream
// finish while new requests get 503, httplib's own errors (413, 404) come back as OpenAI JSON, and a
// second server cannot bind a port in use.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "anvil/infer/generator.h"
#include "anvil/serve/http_server.h"

namespace anvil::serve {
namespace {

using json = nlohmann::json;
constexpr int64_t kMaxBody = 4096;
constexpr auto kPatience = std::chrono::seconds(20);  // for conditions that take milliseconds when all is well

tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  auto t = tok::Tokenizer::create(std::move(p));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(*t);
}

model::Transformer tiny_model() {
  auto cfg = model::parse_config(R"({"model_type":"llama","vocab_size":256,"hidden_size":32,"intermediate_size":64,
                                     "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
                                     "max_position_embeddings":512,"initializer_range":0.5})");
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(*cfg);
  EXPECT_TRUE(m.ok());
  m->init_weights(11);
  return std::move(*m);
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

TEST_F(Http, ClientThatStopsReadingCancelsTheStream) {
  const json req = {{"model", "tiny"}, {"prompt", "go"}, {"max_tokens", 400}, {"stream", true}};
  int n_chunks = 0;
  httplib::Request hr;
  hr.method = "POST";
  hr.path = "/v1/completions";
  hr.body = req.dump();
  hr.set_header("Content-Type", "application/json");
  hr.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++n_chunks < 2; };  // leave
  auto r = client_->send(hr);
  EXPECT_FALSE(r);  // the client aborted the read
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (sched_->stats().n_cancelled < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(sched_->stats().n_cancelled, 1u);
  EXPECT_LT(sched_->stats().n_completed, 1u);  // it never ran to its 400 tokens
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

}  // namespace
}  // namespace anvil::serve
