// ChatTemplate: turns OpenAI-style chat messages into the prompt text a model was trained on. HF models
// carry a Jinja template; anvil models carry `chat_template.json` in the model directory, a small,
// declarative format that needs no template engine:
//   {"system": "{content}\n\n", "user": "Question: {content}\n", "assistant": "{content}\n\n",
//    "generation_prompt": "", "stop": ["\n\nQuestion:"]}
// Each message renders as its role's pattern with {content} replaced; the generation prompt is appended
// when the last message is not the assistant's. Unknown keys, a role without a pattern and a pattern
// without exactly one {content} are errors naming the file and key. Without the file, the default is the
// quickstart's "Question: ...\n" layout above (what `anvil synth` writes).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::infer {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

class ChatTemplate {
 public:
  static ChatTemplate default_template();
  // `dir`/chat_template.json when it exists, else default_template().
  static Result<ChatTemplate> load(const std::string& model_dir);
  // From the JSON text (`origin` names it in errors).
  static Result<ChatTemplate> parse(const std::string& json_text, const std::string& origin);

  // Fails with kInvalidArgument naming the message index for an unknown role.
  Result<std::string> render(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
  // Stop strings a chat completion adds to the request's own (e.g. the start of the next turn).
  const std::vector<std::string>& stop() const { return stop_; }

 private:
  std::map<std::string, std::string> patterns_;  // role -> pattern with one {content}
  std::string generation_prompt_;
  std::vector<std::string> stop_;
};

}  // namespace anvil::infer
