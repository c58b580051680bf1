// Templated multi-step word problems: a person starts with some items, then buys, buys packs of, sells
// or gives away items, and may finally share them equally. Every step is one line of reasoning with
// its arithmetic written out ("He buys 3 packs of 4: 3 * 4 = 12, 17 + 12 = 29."), the answer is an
// integer, and counts never go below zero. Difficulty d: d operations (plus possibly a final share).
#include <array>
#include <string>

#include <fmt/format.h>

#include "anvil/data/synth.h"

namespace anvil::data {
namespace {

struct Person {
  const char* name;
  const char* pronoun;  // "He" / "She"
};
constexpr std::array<Person, 10> kPeople = {{{"Tom", "He"},
                                             {"Anna", "She"},
                                             {"Ben", "He"},
                                             {"Lily", "She"},
                                             {"Sam", "He"},
                                             {"Mia", "She"},
                                             {"Leo", "He"},
                                             {"Zoe", "She"},
                                             {"Max", "He"},
                                             {"Eva", "She"}}};
constexpr std::array<const char*, 8> kItems = {"apples", "pens", "books", "cards",
                                               "eggs",   "stickers", "marbles", "cookies"};

}  // namespace

TaskBody make_word_problem(Rng& rng, int difficulty) {
  const Person& p = kPeople[rng.below(kPeople.size())];
  const Person* other = &kPeople[rng.below(kPeople.size())];
  while (other == &p) other = &kPeople[rng.below(kPeople.size())];
  const char* item = kItems[rng.below(kItems.size())];
  const uint64_t scale = 10 + 5 * static_cast<uint64_t>(difficulty);  // numbers grow with difficulty

  TaskBody body;
  uint64_t value = 5 + rng.below(scale);
  std::string story = fmt::format("{} has {} {}.", p.name, value, item);
  body.steps.push_back(fmt::format("{} starts with {} {}.", p.name, value, item));
  for (int k = 0; k < difficulty; ++k) {
    const uint64_t kind = rng.below(4);
    if (kind == 0) {
      const uint64_t b = 2 + rng.below(scale);
      story += fmt::format(" {} buys {} more {}.", p.pronoun, b, item);
      body.steps.push_back(fmt::format("{} buys {}: {} + {} = {}.", p.pronoun, b, value, b, value + b));
      value += b;
    } else if (kind == 1) {
      const uint64_t n_packs = 2 + rng.below(4), per_pack = 2 + rng.below(8);
      const uint64_t b = n_packs * per_pack;
      story += fmt::format(" {} buys {} packs of {} {}.", p.pronoun, n_packs, per_pack, item);
      body.steps.push_back(fmt::format("{} buys {} packs of {}: {} * {} = {}, {} + {} = {}.", p.pronoun, n_packs,
                                       per_pack, n_packs, per_pack, b, value, b, value + b));
      value += b;
    } else if (value >= 3) {
      const uint64_t b = 2 + rng.below(value - 1);  // 2..value
      if (kind == 2) {
        story += fmt::format(" {} sells {} {}.", p.pronoun, b, item);
        body.steps.push_back(fmt::format("{} sells {}: {} - {} = {}.", p.pronoun, b, value, b, value - b));
      } else {
        story += fmt::format(" {} gives {} {} to {}.", p.pronoun, b, item, other->name);
        body.steps.push_back(fmt::format("{} gives away {}: {} - {} = {}.", p.pronoun, b, value, b, value - b));
      }
      value -= b;
    } else {
      const uint64_t b = 2 + rng.below(scale);
      story += fmt::format(" {} finds {} more {}.", p.pronoun, b, item);
      body.steps.push_back(fmt::format("{} finds {}: {} + {} = {}.", p.pronoun, b, value, b, value + b));
      value += b;
    }
  }
  // A final equal share when the count allows one (some divisor 2..9), else ask for the total.
  std::vector<uint64_t> divisors;
  for (uint64_t m = 2; m <= 9; ++m) {
    if (value >= m && value % m == 0) divisors.push_back(m);
  }
  if (!divisors.empty() && rng.below(2) == 1) {
    const uint64_t m = divisors[rng.below(divisors.size())];
    story += fmt::format(" {} shares them equally among {} friends. How many {} does each friend get?",
                         p.pronoun, m, item);
    body.steps.push_back(fmt::format("{} shares {} among {}: {} / {} = {}.", p.pronoun, value, m, value, m, value / m));
    value /= m;
  } else {
    story += fmt::format(" How many {} does {} have now?", item, p.name);
  }
  body.question = std::move(story);
  body.answer = fmt::format("{}", value);
  return body;
}

}  // namespace anvil::data
