// Arithmetic chains: "What is 37 + 48 - 19?" evaluated left to right, never below zero. Each step is
// written column by column, right to left, so a tiny model learns digit-level rules:
//   "37 + 48: 7+8=15, 3+4+1=8, so 37 + 48 = 85"      (a two-digit column sum carries its 1)
//   "85 - 19: 15-9=6, 8-1-1=6, so 85 - 19 = 66"      (a borrowed column shows 1x, the next one -1)
// Difficulty d: operands of 1 + d/2 digits, (d+1)/2 operations.
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "anvil/data/synth.h"

namespace anvil::data {
namespace {

uint64_t pow10(int k) {
  uint64_t p = 1;
  while (k-- > 0) p *= 10;
  return p;
}

// Uniform with exactly n_digits digits (1..9 for one digit).
uint64_t random_operand(Rng& rng, int n_digits) {
  const uint64_t lo = n_digits == 1 ? 1 : pow10(n_digits - 1);
  const uint64_t hi = pow10(n_digits) - 1;
  return lo + rng.below(hi - lo + 1);
}

std::vector<int> digits_lsb_first(uint64_t x, size_t width) {
  std::vector<int> d(width, 0);
  for (size_t i = 0; i < width && x > 0; ++i, x /= 10) d[i] = static_cast<int>(x % 10);
  return d;
}

size_t n_digits_of(uint64_t x) { return fmt::format("{}", x).size(); }

std::string add_step(uint64_t a, uint64_t b) {
  const uint64_t s = a + b;
  if (a < 10 && b < 10) return fmt::format("{} + {} = {}", a, b, s);
  const size_t w = std::max(n_digits_of(a), n_digits_of(b));
  const auto da = digits_lsb_first(a, w), db = digits_lsb_first(b, w);
  std::string line = fmt::format("{} + {}: ", a, b);
  int carry = 0;
  for (size_t i = 0; i < w; ++i) {
    const int col = da[i] + db[i] + carry;
    line += carry ? fmt::format("{}+{}+1={}", da[i], db[i], col) : fmt::format("{}+{}={}", da[i], db[i], col);
    line += ", ";
    carry = col >= 10;
  }
  return line + fmt::format("so {} + {} = {}", a, b, s);
}

std::string sub_step(uint64_t a, uint64_t b) {  // a >= b
  const uint64_t r = a - b;
  if (a < 10) return fmt::format("{} - {} = {}", a, b, r);
  const size_t w = n_digits_of(a);
  const auto da = digits_lsb_first(a, w), db = digits_lsb_first(b, w);
  std::string line = fmt::format("{} - {}: ", a, b);
  int borrow = 0;
  for (size_t i = 0; i < w; ++i) {
    const int top = da[i] - borrow;
    const int borrow_out = top < db[i];
    const int shown = da[i] + 10 * borrow_out;
    const int d = top + 10 * borrow_out - db[i];
    line += borrow ? fmt::format("{}-{}-1={}", shown, db[i], d) : fmt::format("{}-{}={}", shown, db[i], d);
    line += ", ";
    borrow = borrow_out;
  }
  return line + fmt::format("so {} - {} = {}", a, b, r);
}

}  // namespace

TaskBody make_arithmetic(Rng& rng, int difficulty) {
  const int n_digits = 1 + difficulty / 2;
  const int n_ops = (difficulty + 1) / 2;
  TaskBody body;
  uint64_t value = random_operand(rng, n_digits);
  std::string expr = fmt::format("{}", value);
  for (int k = 0; k < n_ops; ++k) {
    uint64_t b = random_operand(rng, n_digits);
    const bool subtract = rng.below(2) == 1 && value >= 1;
    if (subtract) {
      if (b > value) b = 1 + rng.below(value);
      body.steps.push_back(sub_step(value, b));
      expr += fmt::format(" - {}", b);
      value -= b;
    } else {
      body.steps.push_back(add_step(value, b));
      expr += fmt::format(" + {}", b);
      value += b;
    }
  }
  body.question = fmt::format("What is {}?", expr);
  body.answer = fmt::format("{}", value);
  return body;
}

}  // namespace anvil::data
