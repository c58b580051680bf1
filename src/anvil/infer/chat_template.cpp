// ChatTemplate (see chat_template.h): parsing of chat_template.json with nlohmann::json (strict: unknown
// keys and wrong types are errors naming the key) and rendering by placeholder substitution. "user" and
// "assistant" patterns are required, "system" is optional (a system message then fails to render).
#include "anvil/infer/chat_template.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"

namespace anvil::infer {
namespace {

constexpr std::string_view kPlaceholder = "{content}";
constexpr const char* kFileName = "chat_template.json";

size_t count_placeholders(const std::string& s) {
  size_t n = 0;
  for (size_t at = s.find(kPlaceholder); at != std::string::npos; at = s.find(kPlaceholder, at + kPlaceholder.size())) ++n;
  return n;
}

}  // namespace

ChatTemplate ChatTemplate::default_template() {
  ChatTemplate t;
  t.patterns_ = {{"system", "{content}\n\n"}, {"user", "Question: {content}\n"}, {"assistant", "{content}\n\n"}};
  t.stop_ = {"\n\nQuestion:"};
  return t;
}

Result<ChatTemplate> ChatTemplate::load(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / kFileName).string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return default_template();
  ANVIL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse(text, path);
}

Result<ChatTemplate> ChatTemplate::parse(const std::string& json_text, const std::string& origin) {
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("[infer.chat_template] '{}': not valid JSON", origin);
  if (!j.is_object())
    return invalid_argument("[infer.chat_template] '{}': expected a JSON object, got {}", origin, j.type_name());
  ChatTemplate t;
  for (const auto& [key, value] : j.items()) {
    if (key == "system" || key == "user" || key == "assistant") {
      if (!value.is_string())
        return invalid_argument("[infer.chat_template] '{}': key '{}' must be a string, got {}", origin, key,
                                value.type_name());
      const auto pattern = value.get<std::string>();
      if (const size_t n = count_placeholders(pattern); n != 1)
        return invalid_argument("[infer.chat_template] '{}': key '{}' must contain {{content}} exactly once, found {}",
                                origin, key, n);
      t.patterns_[key] = pattern;
    } else if (key == "generation_prompt") {
      if (!value.is_string())
        return invalid_argument("[infer.chat_template] '{}': key 'generation_prompt' must be a string, got {}", origin,
                                value.type_name());
      t.generation_prompt_ = value.get<std::string>();
    } else if (key == "stop") {
      if (!value.is_array())
        return invalid_argument("[infer.chat_template] '{}': key 'stop' must be an array of strings, got {}", origin,
                                value.type_name());
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string() || value[i].get<std::string>().empty())
          return invalid_argument("[infer.chat_template] '{}': stop[{}] must be a non-empty string", origin, i);
        t.stop_.push_back(value[i].get<std::string>());
      }
    } else {
      return invalid_argument("[infer.chat_template] '{}': unknown key '{}' (expected system, user, assistant, "
                              "generation_prompt, stop)",
                              origin, key);
    }
  }
  for (const char* role : {"user", "assistant"})
    if (!t.patterns_.count(role))
      return invalid_argument("[infer.chat_template] '{}': missing the '{}' pattern", origin, role);
  return t;
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const auto it = patterns_.find(m.role);
    if (it == patterns_.end())
      return invalid_argument("[infer.chat_template] messages[{}]: role '{}' has no pattern in this chat template", i,
                              m.role);
    const std::string& p = it->second;
    const size_t at = p.find(kPlaceholder);
    out.append(p, 0, at).append(m.content).append(p, at + kPlaceholder.size());
  }
  if (add_generation_prompt && (messages.empty() || messages.back().role != "assistant")) out += generation_prompt_;
  return out;
}

}  // namespace anvil::infer
