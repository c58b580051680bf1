// GrpcServer through the generated C++ stub over a real socket: a greedy (and a seeded) stream equals
// Generator::generate_ids on the same weights token for token, text and logprobs included (top_logprobs
// too), alone and with 8 concurrent streams; chat messages go through the chat template; bad arguments
// are INVALID_ARGUMENT naming the field; unknown model NOT_FOUND; api key UNAUTHENTICATED; drain
// UNAVAILABLE; a full queue or an oversized request RESOURCE_EXHAUSTED; a client cancelling mid-stream,
// or shutdown past its grace, cancels the scheduler request; metrics count RPCs by endpoint and status.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <thread>

#include "grpc_test_util.h"

namespace anvil::serve::testing {
namespace {

constexpr float kLogprobTol = 1e-4f;  // batched vs single-sequence forward: same math, summation order may differ
constexpr auto kWaitLimit = std::chrono::seconds(20);

struct Collected {
  ::grpc::Status status;
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  int n_messages = 0;
  int n_final = 0;  // messages with a finish_reason
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  v1::Usage usage;
};

Collected generate(v1::Inference::Stub& stub, const v1::GenerateRequest& req, const std::string& bearer = "") {
  ::grpc::ClientContext ctx;
  if (!bearer.empty()) ctx.AddMetadata("authorization", bearer);
  auto reader = stub.Generate(&ctx, req);
  Collected c;
  v1::GenerateResponse msg;
  while (reader->Read(&msg)) {
    ++c.n_messages;
    c.text += msg.text();
    c.tokens.insert(c.tokens.end(), msg.token_ids().begin(), msg.token_ids().end());
    c.logprobs.insert(c.logprobs.end(), msg.logprobs().begin(), msg.logprobs().end());
    if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      ++c.n_final;
      c.finish = msg.finish_reason();
      c.usage = msg.usage();
    }
  }
  c.status = reader->Finish();
  return c;
}

v1::GenerateRequest greedy_request(const std::string& prompt, int32_t max_tokens) {
  v1::GenerateRequest req;
  req.set_prompt(prompt);
  req.set_temperature(0.0f);
  req.set_max_tokens(max_tokens);
  req.set_ignore_eos(true);
  req.set_logprobs(true);
  return req;
}

void expect_matches(const Collected& got, const infer::GenerationResult& want) {
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.n_final, 1);
  EXPECT_EQ(got.finish, want.finish == infer::FinishReason::kStop ? v1::FINISH_REASON_STOP : v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(got.usage.prompt_tokens(), want.n_prompt_tokens);
  EXPECT_EQ(got.usage.completion_tokens(), want.n_tokens);
  if (!want.logprobs.empty()) {
    ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
    for (size_t i = 0; i < want.logprobs.size(); ++i) EXPECT_NEAR(got.logprobs[i], want.logprobs[i], kLogprobTol) << i;
  }
}

// Polls until `pred` holds (the scheduler updates its stats on its own thread).
bool wait_until(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TEST(GrpcServer, GreedyStreamEqualsGenerator) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  const auto got = generate(*s->stub, greedy_request("The cat", 20));
  const auto want = reference("The cat", {.temperature = 0.0f, .max_tokens = 20, .ignore_eos = true, .logprobs = true});
  expect_matches(got, want);
  EXPECT_EQ(want.n_tokens, 20);
  EXPECT_GE(got.n_messages, 1);
  EXPECT_EQ(got.finish, v1::FINISH_REASON_LENGTH);
}

TEST(GrpcServer, SeededSamplingAndStopStringsMatchGenerator) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  v1::GenerateRequest req;
  req.set_prompt("xyz");
  req.set_temperature(0.8f);
  req.set_top_k(40);
  req.set_top_p(0.9f);
  req.set_seed(11);
  req.set_max_tokens(24);
  req.set_frequency_penalty(0.5f);
  req.set_ignore_eos(true);
  const infer::SamplingOptions opt{.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .frequency_penalty = 0.5f,
                                   .seed = 11, .max_tokens = 24, .ignore_eos = true};
  const auto want = reference("xyz", opt);
  expect_matches(generate(*s->stub, req), want);
  // A stop string from the middle of that completion (one ASCII byte: stop strings are UTF-8) ends the
  // stream before it, with finish STOP.
  size_t at = 3;
  while (at < want.text.size() && static_cast<unsigned char>(want.text[at]) >= 0x80) ++at;
  ASSERT_LT(at, want.text.size()) << "no ASCII in the completion after byte 3: " << want.text;
  const std::string stop = want.text.substr(at, 1);
  req.add_stop(stop);
  infer::SamplingOptions with_stop = opt;
  with_stop.stop = {stop};
  const auto want_stop = reference("xyz", with_stop);
  EXPECT_EQ(want_stop.finish, infer::FinishReason::kStop);
  expect_matches(generate(*s->stub, req), want_stop);
  // logit_bias goes through as the Generator's.
  req.clear_stop();
  (*req.mutable_logit_bias())[static_cast<unsigned char>(want.text[0])] = -100.0f;
  (*req.mutable_logit_bias())['q'] = 3.0f;
  infer::SamplingOptions biased = opt;
  biased.logit_bias = {{static_cast<unsigned char>(want.text[0]), -100.0f}, {'q', 3.0f}};
  const auto want_biased = reference("xyz", biased);
  EXPECT_NE(want_biased.text, want.text);
  expect_matches(generate(*s->stub, req), want_biased);
}

TEST(GrpcServer, TopLogprobsEqualGeneratorsAndHoldTheChosenToken) {
  constexpr int kN = 5;
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  v1::GenerateRequest req = greedy_request("The cat", 12);
  req.set_top_logprobs(kN);
  ::grpc::ClientContext ctx;
  auto reader = s->stub->Generate(&ctx, req);
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<v1::TopLogprobs> tops;
  v1::GenerateResponse msg;
  while (reader->Read(&msg)) {
    tokens.insert(tokens.end(), msg.token_ids().begin(), msg.token_ids().end());
    logprobs.insert(logprobs.end(), msg.logprobs().begin(), msg.logprobs().end());
    tops.insert(tops.end(), msg.top_logprobs().begin(), msg.top_logprobs().end());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(tops.size(), tokens.size());

  // The Generator's per-token top list (TokenEvent::top) on the same weights.
  auto g = infer::Generator::create(tiny_model(), byte_tokenizer());
  ASSERT_TRUE(g.ok());
  std::vector<std::vector<infer::TopLogprob>> want;
  const std::vector<uint32_t> ids = byte_tokenizer().encode("The cat");
  auto r = g->generate_ids(std::vector<int32_t>(ids.begin(), ids.end()),
                           {.temperature = 0.0f, .max_tokens = 12, .ignore_eos = true, .logprobs = true,
                            .top_logprobs = kN},
                           [&](const infer::TokenEvent& e) {
                             if (!e.final) want.emplace_back(e.top.begin(), e.top.end());
                           });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(tokens, r->tokens);
  ASSERT_EQ(want.size(), tops.size());
  for (size_t k = 0; k < tops.size(); ++k) {
    ASSERT_EQ(tops[k].token_ids_size(), kN) << k;
    ASSERT_EQ(tops[k].logprobs_size(), kN) << k;
    // Greedy: the chosen token is the most likely, with the logprob reported for it.
    EXPECT_EQ(tops[k].token_ids(0), tokens[k]) << k;
    EXPECT_EQ(tops[k].logprobs(0), logprobs[k]) << k;
    for (int i = 0; i < kN; ++i) {
      EXPECT_EQ(tops[k].token_ids(i), want[k][static_cast<size_t>(i)].id) << k << " " << i;
      EXPECT_NEAR(tops[k].logprobs(i), want[k][static_cast<size_t>(i)].logprob, kLogprobTol) << k << " " << i;
      if (i > 0) {
        EXPECT_GE(tops[k].logprobs(i - 1), tops[k].logprobs(i)) << k;
      }
    }
  }
  // Without top_logprobs the messages carry none.
  ::grpc::ClientContext ctx2;
  auto plain = s->stub->Generate(&ctx2, greedy_request("The cat", 4));
  while (plain->Read(&msg)) EXPECT_EQ(msg.top_logprobs_size(), 0);
  EXPECT_TRUE(plain->Finish().ok());
}

TEST(GrpcServer, EmptyPromptStartsFromEndOfText) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  const auto got = generate(*s->stub, greedy_request("", 8));
  const auto want = reference_ids({s->scheduler->eos_id()}, {.temperature = 0.0f, .max_tokens = 8, .ignore_eos = true,
                                                             .logprobs = true});
  EXPECT_EQ(want.n_prompt_tokens, 1);
  expect_matches(got, want);
}

TEST(GrpcServer, ChatMessagesGoThroughTheTemplate) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  v1::GenerateRequest req = greedy_request("", 12);
  req.clear_prompt();
  auto* m = req.mutable_chat()->add_messages();
  m->set_role("user");
  m->set_content("Hi?");
  const auto tmpl = infer::ChatTemplate::default_template();
  const std::vector<infer::ChatMessage> msgs{{.role = "user", .content = "Hi?"}};
  auto prompt = tmpl.render(msgs);
  ASSERT_TRUE(prompt.ok());
  const auto want = reference(*prompt, {.temperature = 0.0f, .max_tokens = 12, .stop = tmpl.stop(),
                                        .ignore_eos = true, .logprobs = true});
  expect_matches(generate(*s->stub, req), want);
}

TEST(GrpcServer, ConcurrentStreamsEachEqualTheirGenerator) {
  constexpr int kStreams = 8;
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  std::vector<std::string> prompts;
  for (int i = 0; i < kStreams; ++i) prompts.push_back(fmt::format("p{}", i));
  std::vector<Collected> got(kStreams);
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i)
    clients.emplace_back([&, i] { got[i] = generate(*s->stub, greedy_request(prompts[i], 16 + i)); });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    expect_matches(got[i], reference(prompts[i], {.temperature = 0.0f, .max_tokens = 16 + i, .ignore_eos = true,
                                                  .logprobs = true}));
  }
}

TEST(GrpcServer, BadArgumentsAreInvalidArgumentNamingTheField) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  struct Case {
    std::function<void(v1::GenerateRequest&)> edit;
    std::string field;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Case> cases = {
      {[](auto& r) { r.set_max_tokens(0); }, "max_tokens"},
      {[](auto& r) { r.set_temperature(-0.5f); }, "temperature"},
      {[&](auto& r) { r.set_temperature(nan); }, "temperature"},
      {[](auto& r) { r.set_top_p(0.0f); }, "top_p"},
      {[](auto& r) { r.set_top_k(-1); }, "top_k"},
      {[](auto& r) { r.set_frequency_penalty(3.0f); }, "frequency_penalty"},
      {[](auto& r) { r.set_presence_penalty(-2.5f); }, "presence_penalty"},
      {[](auto& r) { r.set_repetition_penalty(0.0f); }, "repetition_penalty"},
      {[](auto& r) { r.add_stop(""); }, "stop[0]"},
      {[](auto& r) { r.set_top_logprobs(21); }, "top_logprobs"},
      {[](auto& r) { r.set_top_logprobs(-1); }, "top_logprobs"},
      {[](auto& r) { r.set_logprobs(false), r.set_top_logprobs(3); }, "top_logprobs"},
      {[](auto& r) { r.clear_prompt(); }, "prompt, chat or prompt_ids"},
      {[](auto& r) { r.mutable_prompt_ids(); }, "prompt_ids"},
      {[](auto& r) { r.mutable_prompt_ids()->add_ids(300); }, "prompt id 300 at index 0"},
      {[](auto& r) { r.set_logprobs(false), r.set_prompt_logprobs(true); }, "prompt_logprobs"},
      {[](auto& r) { r.set_prompt_logprobs(true), r.set_max_tokens(-1); }, "max_tokens"},
      {[](auto& r) { (*r.mutable_logit_bias())[300] = 1.0f; }, "logit_bias"},
      {[](auto& r) { (*r.mutable_logit_bias())[5] = -101.0f; }, "logit_bias"},
      {[](auto& r) { r.mutable_chat(); }, "chat.messages"},
      {[](auto& r) {
         auto* m = r.mutable_chat()->add_messages();
         m->set_role("wizard");
         m->set_content("x");
       }, "chat.messages"},
      // Longer than the model's 64 positions: refused by the scheduler at submit.
      {[](auto& r) { r.set_prompt(std::string(100, 'a')); }, "prompt"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].field);
    v1::GenerateRequest req = greedy_request("ok", 4);
    cases[i].edit(req);
    const auto got = generate(*s->stub, req);
    EXPECT_EQ(got.status.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT) << got.status.error_message();
    EXPECT_NE(got.status.error_message().find(cases[i].field), std::string::npos) << got.status.error_message();
    EXPECT_EQ(got.n_messages, 0);
  }
  v1::GenerateRequest req = greedy_request("ok", 4);
  req.set_model("gpt-9");
  const auto got = generate(*s->stub, req);
  EXPECT_EQ(got.status.error_code(), ::grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(got.status.error_message().find("gpt-9"), std::string::npos) << got.status.error_message();
  req.set_model("tiny");  // naming the served model is fine
  EXPECT_TRUE(generate(*s->stub, req).status.ok());
}

TEST(GrpcServer, ApiKeyIsRequiredForGenerate) {
  auto s = start_server({.api_key = "sekrit"});
  ASSERT_NE(s, nullptr);
  const auto req = greedy_request("ok", 4);
  EXPECT_EQ(generate(*s->stub, req).status.error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(generate(*s->stub, req, "Bearer wrong").status.error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(generate(*s->stub, req, "sekrit").status.error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
  const auto ok = generate(*s->stub, req, "Bearer sekrit");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 4u);
  ::grpc::ClientContext ctx;  // Health is open (probes carry no key)
  v1::HealthResponse health;
  EXPECT_TRUE(s->stub->Health(&ctx, {}, &health).ok());
}

TEST(GrpcServer, HealthDrainAndMetrics) {
  auto s = start_server({.model_name = "m1"});
  ASSERT_NE(s, nullptr);
  {
    ::grpc::ClientContext ctx;
    v1::HealthResponse h;
    ASSERT_TRUE(s->stub->Health(&ctx, {}, &h).ok());
    EXPECT_EQ(h.status(), v1::HealthResponse::SERVING);
    EXPECT_EQ(h.model(), "m1");
    EXPECT_EQ(h.queue_depth(), 0);
    EXPECT_EQ(h.running(), 0);
  }
  EXPECT_TRUE(generate(*s->stub, greedy_request("ok", 3)).status.ok());
  s->server->begin_drain();
  const auto refused = generate(*s->stub, greedy_request("ok", 3));
  EXPECT_EQ(refused.status.error_code(), ::grpc::StatusCode::UNAVAILABLE);
  ::grpc::ClientContext ctx;
  v1::HealthResponse h;
  ASSERT_TRUE(s->stub->Health(&ctx, {}, &h).ok());
  EXPECT_EQ(h.status(), v1::HealthResponse::DRAINING);
  // Counted per endpoint and status (OnDone runs just after the client sees the status).
  ASSERT_TRUE(wait_until([&] {
    const std::string text = s->metrics->render(s->scheduler->stats());
    return text.find("grpc.Generate") != std::string::npos && text.find("\"503\"") != std::string::npos &&
           text.find("grpc.Health") != std::string::npos;
  })) << s->metrics->render(s->scheduler->stats());
}

TEST(GrpcServer, ClientCancelMidStreamCancelsTheRequest) {
  auto s = start_server({}, ModelSize::kLong);
  ASSERT_NE(s, nullptr);
  const int32_t max_tokens = static_cast<int32_t>(kLongMaxSeq) - 8;
  ::grpc::ClientContext ctx;
  auto reader = s->stub->Generate(&ctx, greedy_request("a", max_tokens));
  v1::GenerateResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_GE(msg.token_ids_size(), 1);
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(wait_until([&] {
    const auto st = s->scheduler->stats();
    return st.n_cancelled == 1 && st.running == 0;
  }));
  EXPECT_EQ(s->scheduler->stats().n_completed, 0u);
}

TEST(GrpcServer, FullQueueIsResourceExhausted) {
  auto s = start_server({}, ModelSize::kLong, {.max_running = 1, .max_queue = 1});
  ASSERT_NE(s, nullptr);
  const int32_t max_tokens = static_cast<int32_t>(kLongMaxSeq) - 8;
  ::grpc::ClientContext running_ctx, queued_ctx;
  auto running = s->stub->Generate(&running_ctx, greedy_request("a", max_tokens));
  v1::GenerateResponse msg;
  ASSERT_TRUE(running->Read(&msg));  // holds the only slot
  auto queued = s->stub->Generate(&queued_ctx, greedy_request("b", max_tokens));
  ASSERT_TRUE(wait_until([&] { return s->scheduler->stats().waiting == 1; }));
  const auto refused = generate(*s->stub, greedy_request("c", 4));
  EXPECT_EQ(refused.status.error_code(), ::grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status.error_message();
  running_ctx.TryCancel();
  queued_ctx.TryCancel();
  while (running->Read(&msg)) {
  }
  while (queued->Read(&msg)) {
  }
  EXPECT_EQ(running->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queued->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(wait_until([&] { return s->scheduler->stats().n_cancelled == 2; }));
}

TEST(GrpcServer, OversizedRequestIsRejected) {
  auto s = start_server({.max_request_bytes = 1024});
  ASSERT_NE(s, nullptr);
  const auto got = generate(*s->stub, greedy_request(std::string(2000, 'a'), 4));
  EXPECT_EQ(got.status.error_code(), ::grpc::StatusCode::RESOURCE_EXHAUSTED) << got.status.error_message();
  EXPECT_TRUE(generate(*s->stub, greedy_request("small", 4)).status.ok());
}

TEST(GrpcServer, ShutdownCancelsStreamsPastTheGrace) {
  auto s = start_server({.shutdown_grace_s = 0.1}, ModelSize::kLong);
  ASSERT_NE(s, nullptr);
  ::grpc::ClientContext ctx;
  auto reader = s->stub->Generate(&ctx, greedy_request("a", static_cast<int32_t>(kLongMaxSeq) - 8));
  v1::GenerateResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  std::thread stopper([&] { s->server->shutdown(); });  // returns once the stream is done
  while (reader->Read(&msg)) {
  }
  const ::grpc::Status st = reader->Finish();
  stopper.join();
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(wait_until([&] { return s->scheduler->stats().n_cancelled == 1; }));
  EXPECT_EQ(s->scheduler->stats().n_completed, 0u);
  // After shutdown nothing listens: a new call fails fast instead of hanging.
  ::grpc::ClientContext late;
  late.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::HealthResponse h;
  EXPECT_FALSE(s->stub->Health(&late, {}, &h).ok());
}

TEST(GrpcServer, StartFailsOnABusyPortAndBadOptions) {
  auto s = start_server({});
  ASSERT_NE(s, nullptr);
  ServeMetrics metrics("tiny");
  auto again = GrpcServer::start(*s->scheduler, metrics, s->chat, {.port = s->server->port()});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(again.status().message().find(std::to_string(s->server->port())), std::string::npos);
  auto bad = GrpcServer::start(*s->scheduler, metrics, s->chat, {.port = 70000});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace anvil::serve::testing
