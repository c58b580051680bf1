// Ordering puzzles: n people in a hidden strict order, told as n-1 adjacent comparisons in shuffled
// order (from difficulty 3 some are phrased in reverse: "Ben is shorter than Ann"); the question asks
// for the top or the bottom. The reasoning restates each fact as "A > B", finds who has no one above,
// then walks the chain one link per line. Difficulty d: d + 2 people (at most kPeopleNames.size()).
#include <algorithm>
#include <array>
#include <string>

#include <fmt/format.h>

#include "anvil/data/synth.h"

namespace anvil::data {
namespace {

struct Relation {
  const char* more;   // "taller"
  const char* less;   // "shorter"
  const char* most;   // "tallest"
  const char* least;  // "shortest"
};
constexpr std::array<Relation, 3> kRelations = {{{"taller", "shorter", "tallest", "shortest"},
                                                 {"older", "younger", "oldest", "youngest"},
                                                 {"faster", "slower", "fastest", "slowest"}}};
constexpr std::array<const char*, 10> kNames = {"Ann", "Ben", "Cat", "Dan", "Eve",
                                                "Fred", "Gus", "Hal", "Ivy", "Jay"};

}  // namespace

TaskBody make_logic_puzzle(Rng& rng, int difficulty) {
  const size_t n = std::min<size_t>(static_cast<size_t>(difficulty) + 2, kNames.size());
  const Relation& rel = kRelations[rng.below(kRelations.size())];
  std::array<const char*, kNames.size()> pool = kNames;
  for (size_t i = pool.size() - 1; i > 0; --i) std::swap(pool[i], pool[rng.below(i + 1)]);
  std::vector<const char*> order(pool.begin(), pool.begin() + n);  // order[0] is the most

  std::vector<size_t> links(n - 1);  // link i: order[i] > order[i+1]
  for (size_t i = 0; i < links.size(); ++i) links[i] = i;
  for (size_t i = links.size() - 1; i > 0; --i) std::swap(links[i], links[rng.below(i + 1)]);

  TaskBody body;
  std::string story;
  std::string facts;
  for (size_t i : links) {
    const bool reversed = difficulty >= 3 && rng.below(2) == 1;
    if (reversed) {
      story += fmt::format("{} is {} than {}. ", order[i + 1], rel.less, order[i]);
    } else {
      story += fmt::format("{} is {} than {}. ", order[i], rel.more, order[i + 1]);
    }
    facts += fmt::format("{}{} > {}.", facts.empty() ? "" : " ", order[i], order[i + 1]);
  }
  const bool ask_most = rng.below(2) == 1;
  story += fmt::format("Who is the {}?", ask_most ? rel.most : rel.least);
  body.question = std::move(story);
  body.steps.push_back(fmt::format("\">\" means {}.", rel.more));
  body.steps.push_back(facts);
  body.steps.push_back(fmt::format("No one is > {}.", order[0]));
  std::string chain = order[0];
  for (size_t i = 0; i + 1 < n; ++i) {
    body.steps.push_back(fmt::format("{} > {}.", order[i], order[i + 1]));
    chain += fmt::format(" > {}", order[i + 1]);
  }
  body.steps.push_back(fmt::format("So the order is {}.", chain));
  body.answer = ask_most ? order[0] : order[n - 1];
  return body;
}

}  // namespace anvil::data
