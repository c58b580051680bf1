// Answer extraction and the accuracy / format rewards (verify.h has the rules).
#include "anvil/data/verify.h"

namespace anvil::data {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";
constexpr std::string_view kAnswer = "Answer:";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view first_line(std::string_view s) {
  const size_t nl = s.find('\n');
  return nl == std::string_view::npos ? s : s.substr(0, nl);
}

std::optional<std::string> canonical(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

size_t count(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

std::optional<std::string> after_answer_tag(std::string_view region) {
  const size_t p = region.find(kAnswer);
  if (p == std::string_view::npos) return std::nullopt;
  return canonical(first_line(region.substr(p + kAnswer.size())));
}

}  // namespace

std::optional<std::string> extract_answer(std::string_view completion, Style style) {
  if (style == Style::kCot) {
    const size_t close = completion.rfind(kClose);
    const std::string_view region = close == std::string_view::npos ? completion : completion.substr(close);
    return after_answer_tag(region);
  }
  if (completion.find(kAnswer) != std::string_view::npos) return after_answer_tag(completion);
  return canonical(first_line(completion));
}

bool is_well_formed(std::string_view completion, Style style) {
  const size_t n_open = count(completion, kOpen), n_close = count(completion, kClose);
  if (style == Style::kDirect) return n_open == 0 && n_close == 0 && extract_answer(completion, style).has_value();
  if (n_open != 1 || n_close != 1) return false;
  std::string_view s = completion;
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  if (!s.starts_with(kOpen)) return false;
  s.remove_prefix(kOpen.size());
  const size_t close = s.find(kClose);
  if (close == std::string_view::npos || trim(s.substr(0, close)).empty()) return false;
  s.remove_prefix(close + kClose.size());
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  if (!s.starts_with(kAnswer)) return false;
  return canonical(first_line(s.substr(kAnswer.size()))).has_value();
}

Reward verify(std::string_view answer, Style style, std::string_view completion) {
  Reward r;
  const auto got = extract_answer(completion, style);
  const auto want = canonical(answer);
  r.accuracy = got && want && *got == *want ? 1.0 : 0.0;
  r.format = is_well_formed(completion, style) ? 1.0 : 0.0;
  return r;
}

}  // namespace anvil::data
