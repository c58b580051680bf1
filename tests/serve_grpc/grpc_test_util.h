// Shared by the gRPC front-end tests: a tiny random GPT-2 with a byte-level tokenizer (as
// tests/infer/generator_test.cpp), a GrpcServer on a free port over a Scheduler for it, and the
// Generator reference a stream must reproduce. Random weights are enough: the tests compare the server's
// streams with the Generator on the same weights, token for token.
#pragma once

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>

#include "anvil/infer/chat_template.h"
#include "anvil/infer/generator.h"
#include "anvil/infer/scheduler.h"
#include "anvil/serve/grpc/grpc_server.h"
#include "anvil/serve/metrics.h"
#include "anvil/v1/inference.grpc.pb.h"

namespace anvil::serve::testing {

constexpr int64_t kVocab = 300;  // 256 bytes + <|endoftext|> + padding rows

// Model sizes: kTiny is fast; kLong decodes thousands of tokens slowly enough that a client can cancel
// mid-stream long before it would finish (cancellation and queue-full tests).
enum class ModelSize { kTiny, kLong };
constexpr int64_t kLongMaxSeq = 2048;
constexpr int64_t kLongMaxRunning = 2;

inline tok::Tokenizer byte_tokenizer() {
  tok::TokenizerParts p;
  for (int b = 0; b < 256; ++b) p.tokens.emplace_back(1, static_cast<char>(b));
  p.tokens.emplace_back("<|endoftext|>");
  p.special_ids.push_back(256);
  auto t = tok::Tokenizer::create(std::move(p));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(*t);
}

inline model::Transformer tiny_model(ModelSize size = ModelSize::kTiny) {
  const char* tiny = R"({"model_type":"gpt2","vocab_size":300,"n_positions":64,"n_embd":32,
                         "n_layer":2,"n_head":4,"initializer_range":0.3})";
  const char* long_ctx = R"({"model_type":"gpt2","vocab_size":300,"n_positions":2048,"n_embd":256,
                             "n_layer":4,"n_head":4,"initializer_range":0.3})";
  auto cfg = model::parse_config(size == ModelSize::kTiny ? tiny : long_ctx);
  EXPECT_TRUE(cfg.ok()) << cfg.status().to_string();
  auto m = model::Transformer::create(*cfg);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  m->init_weights(77);
  return std::move(*m);
}

// The reference: what Generator::generate_ids gives on the same weights.
inline infer::GenerationResult reference_ids(const std::vector<int32_t>& prompt_ids, const infer::SamplingOptions& opt,
                                             ModelSize size = ModelSize::kTiny) {
  auto g = infer::Generator::create(tiny_model(size), byte_tokenizer());
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  auto r = g->generate_ids(prompt_ids, opt);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return std::move(*r);
}
inline infer::GenerationResult reference(const std::string& prompt, const infer::SamplingOptions& opt,
                                         ModelSize size = ModelSize::kTiny) {
  const std::vector<uint32_t> ids = byte_tokenizer().encode(prompt);
  return reference_ids(std::vector<int32_t>(ids.begin(), ids.end()), opt, size);
}

// A GrpcServer on 127.0.0.1:<free port> and a stub connected to it. Members are destroyed in reverse:
// stub, server (shut down), metrics, scheduler.
struct ServerUnderTest {
  std::unique_ptr<infer::Scheduler> scheduler;
  std::unique_ptr<ServeMetrics> metrics;
  infer::ChatTemplate chat = infer::ChatTemplate::default_template();
  std::unique_ptr<GrpcServer> server;
  std::shared_ptr<::grpc::Channel> channel;
  std::unique_ptr<v1::Inference::Stub> stub;
};

inline std::unique_ptr<ServerUnderTest> start_server(GrpcOptions opt, ModelSize size = ModelSize::kTiny,
                                                     infer::SchedulerOptions sched = {}) {
  auto s = std::make_unique<ServerUnderTest>();
  if (size == ModelSize::kLong) {  // a long context: fewer slots keep the KV cache small (~32 MB)
    if (sched.max_seq == 0) sched.max_seq = kLongMaxSeq;
    sched.max_running = std::min<int64_t>(sched.max_running, kLongMaxRunning);
  }
  auto scheduler = infer::Scheduler::create(tiny_model(size), byte_tokenizer(), sched);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status().to_string();
  if (!scheduler.ok()) return nullptr;
  s->scheduler = std::move(*scheduler);
  if (opt.model_name.empty()) opt.model_name = "tiny";
  s->metrics = std::make_unique<ServeMetrics>(opt.model_name);
  auto server = GrpcServer::start(*s->scheduler, *s->metrics, s->chat, opt);
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  if (!server.ok()) return nullptr;
  s->server = std::move(*server);
  s->channel = ::grpc::CreateChannel("127.0.0.1:" + std::to_string(s->server->port()),
                                     ::grpc::InsecureChannelCredentials());
  s->stub = v1::Inference::NewStub(s->channel);
  return s;
}

}  // namespace anvil::serve::testing
