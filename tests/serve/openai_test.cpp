// The OpenAI wire format without a network: request parsing (defaults, accepted shapes, and one 400 per
// bad field naming it as `param`), error bodies, and the response / SSE chunk shapes the openai clients
// read (keys, object names, role delta first, usage chunk with empty choices, invalid UTF-8 replaced),
// top_logprobs in both APIs' shapes.
#include <gtest/gtest.h>

#include <algorithm>

#include <limits>

#include <nlohmann/json.hpp>

#include "anvil/serve/openai.h"

namespace anvil::serve {
namespace {

using json = nlohmann::json;

const ApiLimits kLimits{.max_tokens_limit = 512, .default_completion_tokens = 16};

ApiRequest parse_ok(const std::string& body, ApiKind kind = ApiKind::kCompletion) {
  ApiResult<ApiRequest> r = parse_request(body, kind, kLimits);
  EXPECT_TRUE(r.ok()) << body << " -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : ApiRequest{};
}

ApiError parse_error(const std::string& body, ApiKind kind = ApiKind::kCompletion) {
  ApiResult<ApiRequest> r = parse_request(body, kind, kLimits);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

TEST(OpenAiParse, CompletionDefaultsAndFields) {
  ApiRequest r = parse_ok(R"({"model":"m","prompt":"hi"})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "hi");
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.sampling.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.seed.has_value());

  r = parse_ok(R"({"model":"m","prompt":["one"],"max_tokens":7,"temperature":0,"top_p":0.5,"top_k":-1,
                  "stop":"\n","seed":-3,"frequency_penalty":-2,"presence_penalty":2,"repetition_penalty":1.3,
                  "logprobs":0,"stream":true,"stream_options":{"include_usage":true},"user":"u","n":1,
                  "echo":false,"best_of":1,"suffix":null,"logit_bias":{}})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "one");
  EXPECT_EQ(r.sampling.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(*r.seed, static_cast<uint64_t>(int64_t{-3}));
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -2.0f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 2.0f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.3f);
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 0);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  r = parse_ok(R"({"model":"m","prompt":"x","logprobs":5})");  // OpenAI's largest
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 5);
  EXPECT_FALSE(r.echo);
  EXPECT_FALSE(r.prompts[0].ids.has_value());
}

// Token-id prompts (flat, or nested: what lm-evaluation-harness sends), several prompts, n, echo.
TEST(OpenAiParse, TokenIdPromptsSeveralPromptsNAndEcho) {
  ApiRequest r = parse_ok(R"({"model":"m","prompt":[5,0,2147483647],"echo":true})");
  ASSERT_EQ(r.prompts.size(), 1u);
  ASSERT_TRUE(r.prompts[0].ids.has_value());
  EXPECT_EQ(*r.prompts[0].ids, (std::vector<int32_t>{5, 0, 2147483647}));
  EXPECT_TRUE(r.echo);
  r = parse_ok(R"({"model":"m","prompt":[[9, 8]],"echo":false})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(*r.prompts[0].ids, (std::vector<int32_t>{9, 8}));
  EXPECT_FALSE(r.echo);
  r = parse_ok(R"({"model":"m","prompt":["a",[1,2],""],"n":3,"best_of":3})");
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_EQ(r.prompts[0].text, "a");
  EXPECT_EQ(*r.prompts[1].ids, (std::vector<int32_t>{1, 2}));
  EXPECT_FALSE(r.prompts[2].ids.has_value());
  EXPECT_EQ(r.n, 3);
  r = parse_ok(R"({"model":"m","prompt":"x","logit_bias":{"5":-100,"0":2.5}})");
  ASSERT_EQ(r.sampling.logit_bias.size(), 2u);
  std::sort(r.sampling.logit_bias.begin(), r.sampling.logit_bias.end(),
            [](const infer::TokenBias& a, const infer::TokenBias& b) { return a.id < b.id; });
  EXPECT_EQ(r.sampling.logit_bias[0].id, 0);
  EXPECT_EQ(r.sampling.logit_bias[0].bias, 2.5f);
  EXPECT_EQ(r.sampling.logit_bias[1].id, 5);
  EXPECT_EQ(r.sampling.logit_bias[1].bias, -100.0f);
  r = parse_ok(R"({"model":"m","prompt":[1,2],"echo":true,"max_tokens":0})");  // score only
  EXPECT_EQ(r.sampling.max_tokens, 0);
  EXPECT_NE(parse_error(R"({"model":"m","prompt":"x","max_tokens":0})").message.find("only makes sense with"),
            std::string::npos);
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":128})", ApiKind::kChat);
  EXPECT_EQ(r.n, 128);
  EXPECT_NE(parse_error(R"({"model":"m","prompt":[3,-4]})").message.find("got -4"), std::string::npos);
  EXPECT_NE(parse_error(R"({"model":"m","prompt":["a","b"],"n":65})").message.find("asks for 130 choices"),
            std::string::npos);
  EXPECT_EQ(parse_ok(R"({"model":"m","prompt":["a","b"],"n":2,"stream":true})").n, 2);
}

TEST(OpenAiParse, ChatTopLogprobs) {
  const std::string head = R"({"model":"m","messages":[{"role":"user","content":"q"}])";
  ApiRequest r = parse_ok(head + R"(,"logprobs":true,"top_logprobs":20})", ApiKind::kChat);
  EXPECT_TRUE(r.sampling.logprobs);
  EXPECT_EQ(r.sampling.top_logprobs, 20);
  r = parse_ok(head + R"(,"logprobs":true,"top_logprobs":null})", ApiKind::kChat);
  EXPECT_EQ(r.sampling.top_logprobs, 0);
  r = parse_ok(head + R"(,"logprobs":false})", ApiKind::kChat);
  EXPECT_FALSE(r.sampling.logprobs);
  // Without logprobs: true, top_logprobs is an error naming it (as OpenAI), whatever its value.
  for (const char* rest : {R"(,"top_logprobs":2})", R"(,"logprobs":false,"top_logprobs":0})"}) {
    const ApiError e = parse_error(head + rest, ApiKind::kChat);
    EXPECT_EQ(e.param, "top_logprobs") << rest;
    EXPECT_NE(e.message.find("'logprobs' is true"), std::string::npos) << e.message;
  }
}

TEST(OpenAiParse, ChatMessagesAndTokenLimits) {
  ApiRequest r = parse_ok(R"({"model":"m","messages":[{"role":"developer","content":"be terse"},
                              {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"name":"x"},
                              {"role":"assistant","content":null}],"logprobs":true,"top_logprobs":0})",
                          ApiKind::kChat);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "a\nb");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.sampling.max_tokens, kLimits.max_tokens_limit);  // chat default: the server's limit
  EXPECT_TRUE(r.sampling.logprobs);
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"q"}],"max_tokens":9,"max_completion_tokens":5})",
               ApiKind::kChat);
  EXPECT_EQ(r.sampling.max_tokens, 5);  // max_completion_tokens wins, as OpenAI documents
  r = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"q"}],"stop":["a","b"],"temperature":null})",
               ApiKind::kChat);
  EXPECT_EQ(r.sampling.stop.size(), 2u);
}

TEST(OpenAiParse, EveryBadFieldIsA400NamingIt) {
  struct Case {
    const char* body;
    const char* param;
    ApiKind kind = ApiKind::kCompletion;
  };
  const Case cases[] = {
      {R"({"prompt":"x"})", "model"},
      {R"({"model":3,"prompt":"x"})", "model"},
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":["a",3]})", "prompt[1]"},
      {R"({"model":"m","prompt":["x","y"],"n":100})", "n"},
      {R"({"model":"m","prompt":"x","n":129})", "n"},
      {R"({"model":"m","prompt":"x","n":2,"best_of":3})", "best_of"},
      {R"({"model":"m","prompt":[]})", "prompt"},
      {R"({"model":"m","prompt":[[]]})", "prompt[0]"},
      {R"({"model":"m","prompt":[1,-1]})", "prompt[1]"},
      {R"({"model":"m","prompt":[1.5]})", "prompt[0]"},
      {R"({"model":"m","prompt":[1,"a"]})", "prompt[1]"},
      {R"({"model":"m","prompt":[[7,2147483648]]})", "prompt[0][1]"},
      {R"({"model":"m","prompt":[true]})", "prompt[0]"},
      {R"({"model":"m","prompt":"x","echo":1})", "echo"},
      {R"({"model":"m","prompt":"x","max_tokens":0})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":"5"})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":513})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":18446744073709551615})", "max_tokens"},
      {R"({"model":"m","prompt":"x","temperature":-0.1})", "temperature"},
      {R"({"model":"m","prompt":"x","temperature":"0"})", "temperature"},
      {R"({"model":"m","prompt":"x","top_p":1.5})", "top_p"},
      {R"({"model":"m","prompt":"x","top_k":-2})", "top_k"},
      {R"({"model":"m","prompt":"x","frequency_penalty":2.5})", "frequency_penalty"},
      {R"({"model":"m","prompt":"x","repetition_penalty":0})", "repetition_penalty"},
      {R"({"model":"m","prompt":"x","best_of":3})", "best_of"},
      {R"({"model":"m","prompt":"x","stop":[""]})", "stop"},
      {R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})", "stop"},
      {R"({"model":"m","prompt":"x","stop":{"a":1}})", "stop"},
      {R"({"model":"m","prompt":"x","seed":1.5})", "seed"},
      {R"({"model":"m","prompt":"x","stream":1})", "stream"},
      {R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})", "stream_options"},
      {R"({"model":"m","prompt":"x","stream":true,"stream_options":{"other":true}})", "stream_options.other"},
      {R"({"model":"m","prompt":"x","logprobs":6})", "logprobs"},
      {R"({"model":"m","prompt":"x","logprobs":-1})", "logprobs"},
      {R"({"model":"m","prompt":"x","logprobs":true})", "logprobs"},
      {R"({"model":"m","prompt":"x","logit_bias":[1]})", "logit_bias"},
      {R"({"model":"m","prompt":"x","logit_bias":{"a":1}})", "logit_bias"},
      {R"({"model":"m","prompt":"x","logit_bias":{"-3":1}})", "logit_bias"},
      {R"({"model":"m","prompt":"x","logit_bias":{"05":1}})", "logit_bias"},
      {R"({"model":"m","prompt":"x","logit_bias":{"5":101}})", "logit_bias.5"},
      {R"({"model":"m","prompt":"x","logit_bias":{"5":"1"}})", "logit_bias.5"},
      {R"({"model":"m","prompt":"x","wat":1})", "wat"},
      {R"({"model":"m","messages":[]})", "messages", ApiKind::kChat},
      {R"({"model":"m"})", "messages", ApiKind::kChat},
      {R"({"model":"m","messages":"hi"})", "messages", ApiKind::kChat},
      {R"({"model":"m","messages":[3]})", "messages[0]", ApiKind::kChat},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0].role", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0]",
       ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x","extra":1}]})", "messages[0].extra", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":1})", "logprobs", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":3})", "top_logprobs", ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "top_logprobs",
       ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":1.5})", "top_logprobs",
       ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})", "tools",
       ApiKind::kChat},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"prompt":"p"})", "prompt", ApiKind::kChat},
  };
  for (const Case& c : cases) {
    const ApiError e = parse_error(c.body, c.kind);
    EXPECT_EQ(e.http_status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_NE(e.message.find(c.param), std::string::npos) << e.message;
  }
}

TEST(OpenAiParse, MalformedBodies) {
  for (const char* body : {"", "{", R"({"model":"m",})", "not json", "\xff\xfe"}) {
    const ApiError e = parse_error(body);
    EXPECT_EQ(e.http_status, 400);
    EXPECT_NE(e.message.find("not valid JSON"), std::string::npos) << e.message;
  }
  const ApiError e = parse_error("[1,2]");
  EXPECT_NE(e.message.find("must be a JSON object"), std::string::npos) << e.message;
}

TEST(OpenAiJson, ErrorBodyShapeAndStatusMapping) {
  const json j = json::parse(error_body({.http_status = 400, .message = "bad", .param = "top_p"}));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "top_p");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(api_error(invalid_argument("x")).http_status, 400);
  EXPECT_EQ(api_error(not_found("x")).http_status, 404);
  EXPECT_EQ(api_error(resource_exhausted("x")).http_status, 429);
  EXPECT_EQ(api_error(unavailable("x")).http_status, 503);
  EXPECT_EQ(api_error(Status(StatusCode::kCancelled, "x")).http_status, 503);
  EXPECT_EQ(api_error(internal_error("x")).http_status, 500);
}

TEST(OpenAiJson, WholeResponses) {
  const ResponseMeta meta{.id = "cmpl-1", .model = "m", .created = 123};
  const CompletionResult r{.text = "abc",
                           .logprobs = {{"a", -0.5f}, {"bc", -1.0f}},
                           .with_logprobs = true,
                           .finish = infer::FinishReason::kStop,
                           .n_prompt_tokens = 4,
                           .n_completion_tokens = 2,
                           .text_offset = 10};
  json c = json::parse(response_body(ApiKind::kCompletion, meta, r));
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["created"], 123);
  EXPECT_EQ(c["choices"][0]["text"], "abc");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(c["choices"][0]["logprobs"]["text_offset"], json({10, 11}));
  EXPECT_EQ(c["choices"][0]["logprobs"]["tokens"], json({"a", "bc"}));
  EXPECT_EQ(c["usage"], json({{"prompt_tokens", 4}, {"completion_tokens", 2}, {"total_tokens", 6}}));
  json ch = json::parse(response_body(ApiKind::kChat, meta, r));
  EXPECT_EQ(ch["object"], "chat.completion");
  EXPECT_EQ(ch["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(ch["choices"][0]["message"]["content"], "abc");
  EXPECT_EQ(ch["choices"][0]["logprobs"]["content"][1]["bytes"], json({98, 99}));
}

TEST(OpenAiJson, TopLogprobs) {
  const CompletionResult r{.text = "ab",
                           .logprobs = {{"a", -0.5f, {{"a", -0.5f}, {"z", -1.5f}}},
                                        {"b", -2.0f, {{"c", -0.25f}, {"\xe2", -1.0f}}}},
                           .with_logprobs = true,
                           .n_prompt_tokens = 1,
                           .n_completion_tokens = 2};
  ResponseMeta meta{.id = "cmpl-1", .model = "m", .created = 1, .top_logprobs = 2};
  json c = json::parse(response_body(ApiKind::kCompletion, meta, r));
  const json& tops = c["choices"][0]["logprobs"]["top_logprobs"];
  ASSERT_EQ(tops.size(), 2u);
  EXPECT_EQ(tops[0], json({{"a", -0.5}, {"z", -1.5}}));
  // The chosen token is always there (up to N + 1 entries, as OpenAI documents); a token that is not
  // UTF-8 on its own is named by its bytes, as OpenAI's legacy API does.
  EXPECT_EQ(tops[1], json({{"c", -0.25}, {"bytes:\\xe2", -1.0}, {"b", -2.0}}));
  json ch = json::parse(response_body(ApiKind::kChat, meta, r));
  const json& content = ch["choices"][0]["logprobs"]["content"];
  EXPECT_EQ(content[1]["top_logprobs"][0], json({{"token", "c"}, {"logprob", -0.25}, {"bytes", json::array({99})}}));
  EXPECT_EQ(content[1]["top_logprobs"][1]["bytes"], json({0xe2}));
  EXPECT_EQ(content[1]["top_logprobs"][1]["token"], "\xef\xbf\xbd");
  // N = 0: completions say null, chat an empty list per token.
  meta.top_logprobs = 0;
  const CompletionResult plain{.text = "a", .logprobs = {{"a", -0.5f}}, .with_logprobs = true};
  EXPECT_TRUE(json::parse(response_body(ApiKind::kCompletion, meta, plain))["choices"][0]["logprobs"]["top_logprobs"]
                  .is_null());
  EXPECT_EQ(json::parse(response_body(ApiKind::kChat, meta, plain))["choices"][0]["logprobs"]["content"][0]["top_logprobs"],
            json::array());
  // Stream chunks carry the same shapes.
  meta.top_logprobs = 2;
  const json chunk = json::parse(sse_text_chunk(ApiKind::kCompletion, meta, "ab", &r.logprobs, 7, false).substr(6));
  EXPECT_EQ(chunk["choices"][0]["logprobs"]["top_logprobs"], tops);
  EXPECT_EQ(chunk["choices"][0]["logprobs"]["text_offset"], json({7, 8}));
}

json sse_json(const std::string& chunk) {
  EXPECT_EQ(chunk.rfind("data: ", 0), 0u);
  EXPECT_EQ(chunk.substr(chunk.size() - 2), "\n\n");
  return json::parse(chunk.substr(6, chunk.size() - 8));
}

TEST(OpenAiJson, StreamChunks) {
  const ResponseMeta meta{.id = "chatcmpl-1", .model = "m", .created = 5};
  json role = sse_json(sse_role_chunk(meta, true));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["usage"].is_null());
  EXPECT_TRUE(role.contains("usage"));
  json text = sse_json(sse_text_chunk(ApiKind::kChat, meta, "hi", nullptr, 0, false));
  EXPECT_EQ(text["choices"][0]["delta"]["content"], "hi");
  EXPECT_TRUE(text["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(text.contains("usage"));
  json fin = sse_json(sse_finish_chunk(ApiKind::kChat, meta, infer::FinishReason::kLength, false));
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(fin["choices"][0]["delta"].empty());
  json usage = sse_json(sse_usage_chunk(ApiKind::kChat, meta, 3, 4));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);
  json comp = sse_json(sse_text_chunk(ApiKind::kCompletion, meta, "x", nullptr, 0, false));
  EXPECT_EQ(comp["object"], "text_completion");
  EXPECT_EQ(comp["choices"][0]["text"], "x");
  // A token holding half of a UTF-8 character is written with U+FFFD, not rejected.
  const std::vector<TokenLogprob> half = {{"\xe2\x82", -0.1f}};
  json partial = sse_json(sse_text_chunk(ApiKind::kChat, meta, "", &half, 0, false));
  EXPECT_EQ(partial["choices"][0]["logprobs"]["content"][0]["token"], "\xef\xbf\xbd");
  EXPECT_EQ(partial["choices"][0]["logprobs"]["content"][0]["bytes"], json({0xe2, 0x82}));
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

// The hot streamed chunk is written without nlohmann; it must give the reference's bytes exactly, for
// strings needing every kind of escape (and invalid UTF-8, replaced) and for awkward floats.
TEST(OpenAiJson, FastTextChunkEqualsTheJsonReference) {
  const std::vector<std::string> texts = {
      "", "plain text", "quote \" backslash \\ slash /", std::string("nul \0 and \x01\x1f\x7f", 11),
      "\b\t\n\f\r", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "half \xe2\x82", "\xff\xfe bad", "\xc0\xaf overlong",
      "\xed\xa0\x80 surrogate", "bytes:\\x80"};
  const std::vector<float> values = {0.0f, -0.0f, -0.5f, -1e-7f, -123.456f, -3.4e38f, -1.0f / 3.0f,
                                     -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                                     -1e-45f, -2.0f};
  std::vector<TokenLogprob> lps;
  for (size_t i = 0; i < texts.size(); ++i) {
    TokenLogprob t{.token = texts[i], .logprob = values[i % values.size()]};
    for (size_t k = 0; k < i % 3; ++k)
      t.top.push_back({.token = texts[(i + k + 1) % texts.size()], .logprob = values[(i + k) % values.size()]});
    lps.push_back(std::move(t));
  }
  // The first entry as an echoed prompt's first token (null logprob).
  const std::vector<TokenLogprob> no_top = {
      {.token = "O", .unscored = true}, {"a", -0.25f}, {"\xe2\x82", -1.5f}, {"\"", -0.0f}};
  int n_checked = 0;
  for (const ApiKind kind : {ApiKind::kCompletion, ApiKind::kChat})
    for (const std::string& id : {std::string("cmpl-1"), std::string("id \"q\" \\ \x01")})
      for (const int64_t n_top : {0, 2})
        for (const bool usage : {false, true})
          for (const std::vector<TokenLogprob>* lp : {static_cast<const std::vector<TokenLogprob>*>(nullptr),
                                                      &no_top, &static_cast<const std::vector<TokenLogprob>&>(lps)})
            for (const std::string& text : texts)
              for (const int64_t index : {0, 17}) {
                const ResponseMeta meta{.id = id, .model = "m\xc3\xa9\t", .created = 1764385200123,
                                        .top_logprobs = n_top};
                const size_t offset = 12345678901ULL;
                EXPECT_EQ(sse_text_chunk(kind, meta, text, lp, offset, usage, index),
                          sse_text_chunk_reference(kind, meta, text, lp, offset, usage, index))
                    << "kind " << static_cast<int>(kind) << " text '" << text << "' index " << index;
                ++n_checked;
              }
  EXPECT_EQ(n_checked, 2 * 2 * 2 * 2 * 3 * static_cast<int>(texts.size()) * 2);
  // Appending keeps what the buffer held.
  std::string out = "keep";
  append_sse_text_chunk(out, ApiKind::kChat, {.id = "x", .model = "m"}, "hi", nullptr, 0, false);
  EXPECT_EQ(out, "keep" + sse_text_chunk_reference(ApiKind::kChat, {.id = "x", .model = "m"}, "hi", nullptr, 0, false));
}

TEST(OpenAiJson, Models) {
  json list = json::parse(models_body("tiny", 9));
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "tiny");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(json::parse(model_body("tiny", 9))["owned_by"], "anvil");
}

}  // namespace
}  // namespace anvil::serve
