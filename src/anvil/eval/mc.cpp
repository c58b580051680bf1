// Multiple-choice prompts and log-likelihood scoring (mc.h; method-specs §9.1, §9.2).
#include "anvil/eval/mc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "anvil/base/progress.h"
#include "anvil/base/sysinfo.h"

namespace anvil::eval {
namespace {

constexpr const char* kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

std::string_view strip(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

int argmax(const std::vector<double>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

void add(McScore& s, const McItemResult& r, bool text) {
  s.n += 1;
  s.acc += r.chosen == r.gold;
  if (text) {
    s.acc_norm += r.chosen_norm == r.gold;
    s.acc_text += r.chosen_text == r.gold;
  }
}

void normalise(McScore& s, bool text) {
  const double n = static_cast<double>(std::max<int64_t>(s.n, 1));
  s.acc /= n;
  s.acc_norm = text ? s.acc_norm / n : std::numeric_limits<double>::quiet_NaN();
  s.acc_text = text ? s.acc_text / n : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

int64_t utf8_length(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string mc_description(McFormat format, const McSubject& s) {
  if (format == McFormat::kCeval) return "以下是中国关于" + s.display + "的单项选择题，请选出其中的正确答案。\n\n";
  if (s.display.empty()) return "";
  return "The following are multiple choice questions (with answers) about " + s.display + ".\n\n";
}

std::string mc_doc_to_text(McFormat format, const McItem& item) {
  std::string t(strip(item.question));
  for (size_t i = 0; i < item.choices.size(); ++i) {
    t += '\n';
    t += kLetters[i];
    t += ". ";
    t += item.choices[i];
  }
  t += format == McFormat::kCeval ? "\n答案：" : "\nAnswer:";
  return t;
}

std::string mc_context(McFormat format, const McSubject& s, size_t index, int shots, int* n_shots_used) {
  std::string ctx = mc_description(format, s);
  int used = 0;
  auto add_shot = [&](const McItem& it) {
    ctx += mc_doc_to_text(format, it) + " " + kLetters[it.gold] + "\n\n";
    ++used;
  };
  if (!s.dev.empty()) {
    for (size_t i = 0; i < s.dev.size() && used < shots; ++i) add_shot(s.dev[i]);
  } else {
    for (size_t i = 0; i < s.eval.size() && used < shots; ++i) {
      if (i != index) add_shot(s.eval[i]);
    }
  }
  if (n_shots_used) *n_shots_used = used;
  return ctx + mc_doc_to_text(format, s.eval[index]);
}

Result<McResult> run_mc(LmScorer& lm, const McDataset& ds, const McOptions& opt) {
  const double t0 = wall_seconds();
  const bool text = opt.scoring == McScoring::kBoth;
  McResult res{.task = mc_format_name(ds.format), .source = ds.source, .split = ds.split, .shots = opt.shots};
  size_t n_total = 0;
  for (const McSubject& s : ds.subjects) {
    n_total += opt.limit > 0 ? std::min<size_t>(s.eval.size(), static_cast<size_t>(opt.limit)) : s.eval.size();
  }
  std::optional<Progress> progress;
  if (opt.progress) progress.emplace(std::string("mc ") + res.task, n_total, "questions");
  for (const McSubject& s : ds.subjects) {
    const size_t n = opt.limit > 0 ? std::min<size_t>(s.eval.size(), static_cast<size_t>(opt.limit)) : s.eval.size();
    std::vector<LlRequest> reqs;
    std::vector<McItemResult> items(n);
    for (size_t i = 0; i < n; ++i) {
      const McItem& it = s.eval[i];
      if (it.gold < 0) {
        return invalid_argument("[eval.mc] {} subject '{}' item '{}' has no answer", res.task, s.name, it.id);
      }
      McItemResult& r = items[i];
      r.subject = s.name;
      r.id = it.id;
      r.gold = it.gold;
      r.prompt = mc_context(ds.format, s, i, opt.shots, &r.n_shots);
      for (size_t c = 0; c < it.choices.size(); ++c) {
        reqs.push_back(lm.encode_pair(r.prompt, std::string(" ") + kLetters[c]));
      }
      if (text) {
        for (const std::string& choice : it.choices) reqs.push_back(lm.encode_pair(r.prompt, " " + choice));
      }
      r.n_prompt_tokens = static_cast<int64_t>(reqs.back().context.size());
      r.truncated = static_cast<int64_t>(reqs.back().context.size() + reqs.back().continuation.size()) - 1 >
                    lm.max_length();
    }
    ANVIL_ASSIGN_OR_RETURN(std::vector<LlResult> ll, lm.loglikelihood(reqs));
    res.n_requests += static_cast<int64_t>(reqs.size());
    size_t k = 0;
    McScore score;
    for (size_t i = 0; i < n; ++i) {
      const McItem& it = s.eval[i];
      McItemResult& r = items[i];
      for (size_t c = 0; c < it.choices.size(); ++c) r.ll_letter.push_back(ll[k++].logprob);
      r.chosen = argmax(r.ll_letter);
      double best_other = -std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < it.choices.size(); ++c) {
        if (static_cast<int>(c) != r.gold) best_other = std::max(best_other, r.ll_letter[c]);
      }
      r.margin = r.ll_letter[static_cast<size_t>(r.gold)] - best_other;
      if (text) {
        std::vector<double> norm;
        for (size_t c = 0; c < it.choices.size(); ++c) {
          r.ll_text.push_back(ll[k++].logprob);
          norm.push_back(r.ll_text.back() / static_cast<double>(std::max<int64_t>(1, utf8_length(it.choices[c]))));
        }
        r.chosen_text = argmax(r.ll_text);
        r.chosen_norm = argmax(norm);
      }
      add(score, r, text);
      add(res.micro, r, text);
    }
    normalise(score, text);
    res.subjects.push_back({.name = s.name, .score = score});
    for (McItemResult& r : items) res.items.push_back(std::move(r));
    if (progress) progress->add(n);
  }
  if (progress) progress->finish();
  normalise(res.micro, text);
  for (const McSubjectScore& s : res.subjects) {
    res.macro.n += s.score.n;
    res.macro.acc += s.score.acc;
    res.macro.acc_norm += s.score.acc_norm;
    res.macro.acc_text += s.score.acc_text;
  }
  const double n_sub = static_cast<double>(std::max<size_t>(res.subjects.size(), 1));
  res.macro.acc /= n_sub;
  res.macro.acc_norm /= n_sub;
  res.macro.acc_text /= n_sub;
  res.seconds = wall_seconds() - t0;
  return res;
}

}  // namespace anvil::eval
