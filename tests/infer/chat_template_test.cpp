// ChatTemplate: the default renders the quickstart's "Question: ...\n" layout; a chat_template.json in a
// model directory is loaded and rendered; malformed files fail naming the file and key; unknown roles
// fail naming the message index.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "anvil/base/file.h"
#include "anvil/infer/chat_template.h"
#include "support/temp_dir.h"

namespace anvil::infer {
namespace {

TEST(ChatTemplate, DefaultIsTheQuickstartLayout) {
  const ChatTemplate t = ChatTemplate::default_template();
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "What is 2 + 3?"},
                                         {"assistant", "<think>\n2 + 3 = 5\n</think>\nAnswer: 5"},
                                         {"user", "What is 4 - 1?"}};
  auto r = t.render(msgs);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, "Be brief.\n\nQuestion: What is 2 + 3?\n<think>\n2 + 3 = 5\n</think>\nAnswer: 5\n\n"
                "Question: What is 4 - 1?\n");
  EXPECT_EQ(t.stop(), std::vector<std::string>{"\n\nQuestion:"});
  // {content} inside a message is text, not a placeholder.
  const std::vector<ChatMessage> braces = {{"user", "say {content}"}};
  EXPECT_EQ(*t.render(braces), "Question: say {content}\n");
  auto bad = t.render(std::vector<ChatMessage>{{"user", "a"}, {"tool", "b"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("messages[1]: role 'tool'"), std::string::npos) << bad.status().to_string();
}

TEST(ChatTemplate, LoadsFromTheModelDirectory) {
  const auto dir = test::temp_dir("chat_template");
  auto missing = ChatTemplate::load(dir.string());  // no file: the default
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->stop(), ChatTemplate::default_template().stop());
  ASSERT_TRUE(write_file_atomic((dir / "chat_template.json").string(),
                                R"({"user": "<|user|>{content}<|end|>", "assistant": "<|assistant|>{content}<|end|>",
                                    "generation_prompt": "<|assistant|>", "stop": ["<|end|>"]})")
                  .ok());
  auto t = ChatTemplate::load(dir.string());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  const std::vector<ChatMessage> q = {{"user", "hi"}};
  EXPECT_EQ(*t->render(q), "<|user|>hi<|end|><|assistant|>");
  EXPECT_EQ(*t->render(q, /*add_generation_prompt=*/false), "<|user|>hi<|end|>");
  const std::vector<ChatMessage> qa = {{"user", "hi"}, {"assistant", "yo"}};
  EXPECT_EQ(*t->render(qa), "<|user|>hi<|end|><|assistant|>yo<|end|>");  // no prompt after the assistant
  EXPECT_EQ(t->stop(), std::vector<std::string>{"<|end|>"});
  auto sys = t->render(std::vector<ChatMessage>{{"system", "s"}});
  EXPECT_FALSE(sys.ok());  // this template has no system pattern
  ASSERT_TRUE(write_file_atomic((dir / "chat_template.json").string(), R"({"user": "{content}", "asistant": "x"})").ok());
  auto typo = ChatTemplate::load(dir.string());
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("chat_template.json"), std::string::npos) << typo.status().to_string();
  EXPECT_NE(typo.status().message().find("unknown key 'asistant'"), std::string::npos) << typo.status().to_string();
  std::filesystem::remove_all(dir);
}

TEST(ChatTemplate, MalformedTemplatesNameTheKey) {
  auto expect_error = [](const std::string& json, const std::string& needle) {
    auto t = ChatTemplate::parse(json, "t.json");
    ASSERT_FALSE(t.ok()) << json;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().to_string();
    EXPECT_NE(t.status().message().find("'t.json'"), std::string::npos) << t.status().to_string();
  };
  expect_error("{", "not valid JSON");
  expect_error("[]", "expected a JSON object");
  expect_error(R"({"user": "Q: {content} {content}", "assistant": "{content}"})",
               "key 'user' must contain {content} exactly once, found 2");
  expect_error(R"({"user": "Q:", "assistant": "{content}"})", "found 0");
  expect_error(R"({"user": 3, "assistant": "{content}"})", "key 'user' must be a string");
  expect_error(R"({"user": "{content}"})", "missing the 'assistant' pattern");
  expect_error(R"({"user": "{content}", "assistant": "{content}", "stop": "x"})", "key 'stop' must be an array");
  expect_error(R"({"user": "{content}", "assistant": "{content}", "stop": ["a", 1]})", "stop[1]");
  expect_error(R"({"user": "{content}", "assistant": "{content}", "generation_prompt": 1})",
               "'generation_prompt' must be a string");
}

}  // namespace
}  // namespace anvil::infer
