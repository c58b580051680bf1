// Rule-based rewards for the synthetic tasks, R1-Zero style (method-specs §5.2): an accuracy reward
// (1 if the stated final answer equals the truth) and a format reward (1 if the reasoning sits in one
// well-formed <think>…</think> block followed by an "Answer:" line). Both are pure functions of the
// completion text, so RL, eval and tests share them. Rules: docs/data.md §verifiers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "anvil/data/synth.h"

namespace anvil::data {

struct Reward {
  double accuracy = 0.0;
  double format = 0.0;
};

// The final answer the completion states, canonicalised (trimmed, one trailing '.' removed, ASCII
// lower-case), or nullopt. Cot: the first "Answer:" line after the last "</think>" (or anywhere if
// there is none). Direct: the first "Answer:" line, else the completion's first line.
std::optional<std::string> extract_answer(std::string_view completion, Style style);

// Cot: optional whitespace, "<think>", non-blank reasoning, "</think>", optional whitespace, then an
// "Answer: X" line with X non-empty; exactly one opening and one closing tag. Direct: no think tags and
// an extractable answer. Text after the answer line is allowed (a sampler may run past it).
bool is_well_formed(std::string_view completion, Style style);

Reward verify(std::string_view answer, Style style, std::string_view completion);
inline Reward verify(const Task& task, std::string_view completion) {
  return verify(task.answer, task.style, completion);
}

}  // namespace anvil::data
