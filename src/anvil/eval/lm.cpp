// LmScorer: batching rows into planned (B, T) forwards and reading log-softmax rows (lm.h).
#include "anvil/eval/lm.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace anvil::eval {

void log_softmax(std::span<const float> logits, std::span<float> out) {
  float mx = -INFINITY;
  for (float v : logits) mx = std::max(mx, v);
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - lse);
}

Result<LmScorer> LmScorer::create(model::Transformer& model, const tok::Tokenizer& tokenizer, const LmOptions& opt) {
  const auto& c = model.config();
  if (static_cast<int64_t>(tokenizer.vocab_size()) > c.vocab_size) {
    return invalid_argument("[eval.lm] tokenizer has {} tokens but the model's vocab_size is {}",
                            tokenizer.vocab_size(), c.vocab_size);
  }
  if (opt.max_batch <= 0) return invalid_argument("[eval.lm] max_batch {} must be > 0", opt.max_batch);
  if (opt.max_length < 0) return invalid_argument("[eval.lm] max_length {} must be >= 0", opt.max_length);
  LmScorer s;
  s.model_ = &model;
  s.tok_ = &tokenizer;
  s.opt_ = opt;
  s.opt_.pad_multiple = std::max<int64_t>(1, opt.pad_multiple);
  s.max_length_ = opt.max_length > 0 ? std::min(opt.max_length, c.max_seq) : c.max_seq;
  for (const char* name : {"<|endoftext|>", "</s>", "<|end_of_text|>"}) {
    if (auto id = tokenizer.token_id(name); id && tokenizer.is_special(*id)) {
      s.eot_ = static_cast<int32_t>(*id);
      break;
    }
  }
  return s;
}

std::vector<int32_t> LmScorer::encode(std::string_view text) const {
  const std::vector<uint32_t> ids = tok_->encode(text);
  return {ids.begin(), ids.end()};
}

LlRequest LmScorer::encode_pair(std::string_view context, std::string_view continuation) const {
  size_t n_spaces = 0;
  while (n_spaces < context.size() && context[context.size() - 1 - n_spaces] == ' ') ++n_spaces;
  std::string cont = std::string(context.substr(context.size() - n_spaces)) + std::string(continuation);
  context = context.substr(0, context.size() - n_spaces);
  const std::vector<int32_t> whole = encode(std::string(context) + cont);
  LlRequest r;
  r.context = encode(context);
  const size_t n_ctx = std::min(r.context.size(), whole.size());
  r.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(n_ctx), whole.end());
  return r;
}

int64_t LmScorer::batch_for(int64_t T) const {
  const int64_t per_row = T * vocab_size() * static_cast<int64_t>(sizeof(float));
  return std::clamp<int64_t>(opt_.logits_budget_bytes / std::max<int64_t>(per_row, 1), 1, opt_.max_batch);
}

Status LmScorer::ensure_plan(int64_t B, int64_t T) {
  if (model_->planned_B() == B && model_->planned_T() == T) return ok_status();
  ANVIL_RETURN_IF_ERROR(model_->plan(B, T, {.bf16_buffers = opt_.precision == Precision::kBF16}));
  logits_.assign(static_cast<size_t>(B * T * vocab_size()), 0.0f);
  return ok_status();
}

Status LmScorer::run_rows(std::span<const Row> rows, const RowVisitor& visit) {
  const int64_t V = vocab_size();
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].ids.size() > rows[b].ids.size(); });
  for (const Row& r : rows) {
    if (r.ids.empty() || static_cast<int64_t>(r.ids.size()) > max_length_) {
      return invalid_argument("[eval.lm] a row of {} tokens is outside [1, {}]", r.ids.size(), max_length_);
    }
    for (int32_t id : r.ids) {
      if (id < 0 || id >= V) return invalid_argument("[eval.lm] token id {} outside the vocabulary [0, {})", id, V);
    }
    for (int32_t p : r.positions) {
      if (p < 0 || p >= static_cast<int32_t>(r.ids.size())) {
        return invalid_argument("[eval.lm] position {} outside a row of {} tokens", p, r.ids.size());
      }
    }
  }
  std::vector<int32_t> ids;
  std::vector<float> lp(static_cast<size_t>(V));
  for (size_t start = 0; start < order.size();) {
    const int64_t longest = static_cast<int64_t>(rows[order[start]].ids.size());
    const int64_t T = std::min(max_length_, (longest + opt_.pad_multiple - 1) / opt_.pad_multiple * opt_.pad_multiple);
    const int64_t B = std::min<int64_t>(batch_for(T), static_cast<int64_t>(order.size() - start));
    ANVIL_RETURN_IF_ERROR(ensure_plan(B, T));
    ids.assign(static_cast<size_t>(B * T), 0);
    for (int64_t b = 0; b < B; ++b) {
      const Row& r = rows[order[start + static_cast<size_t>(b)]];
      std::copy(r.ids.begin(), r.ids.end(), ids.begin() + b * T);
    }
    model_->logits(ids.data(), logits_.data(), opt_.precision);
    n_forward_tokens_ += B * T;
    for (int64_t b = 0; b < B; ++b) {
      const size_t ri = order[start + static_cast<size_t>(b)];
      for (int32_t p : rows[ri].positions) {
        const float* row = logits_.data() + (b * T + p) * V;
        log_softmax({row, static_cast<size_t>(V)}, lp);
        visit(ri, p, lp);
      }
    }
    start += static_cast<size_t>(B);
  }
  return ok_status();
}

Result<std::vector<LlResult>> LmScorer::loglikelihood(std::span<const LlRequest> requests) {
  // Each request maps to (row, first scored position); single-token continuations of the same context
  // share a row, since their inputs are identical.
  std::vector<Row> rows;
  std::vector<size_t> row_of(requests.size());
  std::vector<int32_t> first_pos(requests.size());
  std::map<std::vector<int32_t>, size_t> shared;
  for (size_t i = 0; i < requests.size(); ++i) {
    const LlRequest& q = requests[i];
    if (q.continuation.empty()) return invalid_argument("[eval.loglikelihood] request {} has an empty continuation", i);
    if (static_cast<int64_t>(q.continuation.size()) > max_length_) {
      return invalid_argument("[eval.loglikelihood] request {}: continuation of {} tokens exceeds max_length {}", i,
                              q.continuation.size(), max_length_);
    }
    std::vector<int32_t> full = q.context;
    if (full.empty()) {
      if (!eot_) return invalid_argument("[eval.loglikelihood] request {} has an empty context and the tokenizer no end-of-text token", i);
      full.push_back(*eot_);
    }
    full.insert(full.end(), q.continuation.begin(), q.continuation.end());
    full.pop_back();  // the last token is only predicted
    if (static_cast<int64_t>(full.size()) > max_length_) full.erase(full.begin(), full.end() - max_length_);
    const int32_t n_in = static_cast<int32_t>(full.size()), n_cont = static_cast<int32_t>(q.continuation.size());
    first_pos[i] = n_in - n_cont;
    if (n_cont == 1) {
      auto [it, inserted] = shared.try_emplace(full, rows.size());
      if (!inserted) {
        row_of[i] = it->second;
        continue;
      }
    }
    row_of[i] = rows.size();
    Row r{.ids = std::move(full), .positions = {}};
    for (int32_t p = first_pos[i]; p < n_in; ++p) r.positions.push_back(p);
    rows.push_back(std::move(r));
  }
  // Which requests read each (row, position).
  std::vector<std::vector<size_t>> readers(rows.size());
  for (size_t i = 0; i < requests.size(); ++i) readers[row_of[i]].push_back(i);
  std::vector<LlResult> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) out[i].is_greedy = true;
  ANVIL_RETURN_IF_ERROR(run_rows(rows, [&](size_t row, int32_t pos, std::span<const float> lp) {
    const size_t best = static_cast<size_t>(std::max_element(lp.begin(), lp.end()) - lp.begin());
    for (size_t i : readers[row]) {
      const int32_t k = pos - first_pos[i];
      if (k < 0 || k >= static_cast<int32_t>(requests[i].continuation.size())) continue;
      const int32_t target = requests[i].continuation[static_cast<size_t>(k)];
      out[i].logprob += lp[static_cast<size_t>(target)];
      out[i].n_tokens += 1;
      out[i].is_greedy = out[i].is_greedy && static_cast<size_t>(target) == best;
    }
  }));
  return out;
}

Status LmScorer::next_logprobs(std::span<const std::vector<int32_t>> seqs, std::vector<std::vector<float>>& out) {
  std::vector<Row> rows(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& s = seqs[i];
    const size_t keep = std::min<size_t>(s.size(), static_cast<size_t>(max_length_));
    rows[i].ids.assign(s.end() - static_cast<std::ptrdiff_t>(keep), s.end());
    rows[i].positions = {static_cast<int32_t>(keep) - 1};
  }
  out.assign(seqs.size(), {});
  return run_rows(rows, [&](size_t row, int32_t, std::span<const float> lp) { out[row].assign(lp.begin(), lp.end()); });
}

}  // namespace anvil::eval
