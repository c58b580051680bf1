// Interop: the ecosystem's gRPC client (@grpc/grpc-js + @grpc/proto-loader, loading the .proto itself)
// against a GrpcServer in this process. tests/serve_grpc/client.js calls Health, streams a greedy and a
// chat Generate (compared here with Generator::generate_ids token for token), sends a bad argument and a
// call without the api key, and cancels a long stream after its first message (the scheduler must count
// the request cancelled, not completed). Skips with a reason when node or the npm clients are missing.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "grpc_test_util.h"

namespace anvil::serve::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kSource = ANVIL_SOURCE_DIR;
const std::string kModules = kSource + "/tests/node/node_modules/@grpc/grpc-js";
const std::string kLoader = kSource + "/tests/node/node_modules/@grpc/proto-loader";
const std::string kScript = kSource + "/tests/serve_grpc/client.js";
constexpr const char* kApiKey = "node-key";
constexpr float kLogprobTol = 1e-4f;
constexpr auto kCancelWait = std::chrono::seconds(20);

// Runs `cmd`, returns its stdout and exit status.
std::pair<std::string, int> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {"", -1};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  return {out, pclose(p)};
}

TEST(GrpcNodeClient, StreamsHealthErrorsAndCancel) {
  if (!fs::exists(kModules) || !fs::exists(kLoader))
    GTEST_SKIP() << "npm gRPC clients not installed: run scripts/npm_test_deps.sh";
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not on PATH";

  auto s = start_server({.api_key = kApiKey, .model_name = "long"}, ModelSize::kLong);
  ASSERT_NE(s, nullptr);
  const auto [out, rc] = run("node " + kScript + " " + std::to_string(s->server->port()) + " " + kApiKey);
  ASSERT_EQ(rc, 0) << out;
  const json r = json::parse(out, nullptr, false);
  ASSERT_FALSE(r.is_discarded()) << out;

  EXPECT_EQ(r["health"]["status"], "SERVING") << r["health"];
  EXPECT_EQ(r["health"]["model"], "long");

  const auto greedy = reference("The cat", {.temperature = 0.0f, .max_tokens = 24, .ignore_eos = true, .logprobs = true},
                                ModelSize::kLong);
  const json& g = r["greedy"];
  EXPECT_EQ(g["code"], 0) << g;
  EXPECT_EQ(g["token_ids"].get<std::vector<int32_t>>(), greedy.tokens);
  EXPECT_EQ(g["text"].get<std::string>(), greedy.text);
  EXPECT_EQ(g["finish_reason"], "FINISH_REASON_LENGTH");
  EXPECT_EQ(g["usage"]["prompt_tokens"], greedy.n_prompt_tokens);
  EXPECT_EQ(g["usage"]["completion_tokens"], greedy.n_tokens);
  const auto logprobs = g["logprobs"].get<std::vector<float>>();
  ASSERT_EQ(logprobs.size(), greedy.logprobs.size());
  for (size_t i = 0; i < logprobs.size(); ++i) EXPECT_NEAR(logprobs[i], greedy.logprobs[i], kLogprobTol) << i;

  const auto tmpl = infer::ChatTemplate::default_template();
  const std::vector<infer::ChatMessage> msgs{{.role = "user", .content = "Hi?"}};
  const auto chat = reference(*tmpl.render(msgs), {.temperature = 0.0f, .max_tokens = 12, .stop = tmpl.stop(),
                                                   .ignore_eos = true}, ModelSize::kLong);
  EXPECT_EQ(r["chat"]["code"], 0) << r["chat"];
  EXPECT_EQ(r["chat"]["token_ids"].get<std::vector<int32_t>>(), chat.tokens);
  EXPECT_EQ(r["chat"]["text"].get<std::string>(), chat.text);

  EXPECT_EQ(r["invalid"]["code"], static_cast<int>(::grpc::StatusCode::INVALID_ARGUMENT)) << r["invalid"];
  EXPECT_NE(r["invalid"]["details"].get<std::string>().find("max_tokens"), std::string::npos) << r["invalid"];
  EXPECT_EQ(r["unauthenticated"]["code"], static_cast<int>(::grpc::StatusCode::UNAUTHENTICATED)) << r["unauthenticated"];

  EXPECT_EQ(r["cancel"]["code"], static_cast<int>(::grpc::StatusCode::CANCELLED)) << r["cancel"];
  EXPECT_LT(r["cancel"]["n_tokens"].get<int>(), 2000);
  const auto deadline = std::chrono::steady_clock::now() + kCancelWait;
  while (s->scheduler->stats().n_cancelled < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto st = s->scheduler->stats();
  EXPECT_EQ(st.n_cancelled, 1u);
  EXPECT_EQ(st.n_completed, 2u);  // greedy + chat; the cancelled stream never completes
}

}  // namespace
}  // namespace anvil::serve::testing
