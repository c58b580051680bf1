// LmScorer: the log-likelihood engine every eval task shares. It runs Transformer::logits over rows of
// token ids (padded at the end to a planned (B, T); causal attention makes padding invisible to the real
// positions), and turns logits into log-softmax values in double precision. Requests follow
// lm-evaluation-harness `loglikelihood` (method-specs §9.1): input = (context + continuation) truncated
// from the left to max_length + 1 tokens, minus the last; the score is the sum of the continuation's
// log-probs. Rolling windows for perplexity follow §9.4.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/model/transformer.h"
#include "anvil/tokenizer/tokenizer.h"

namespace anvil::eval {

struct LmOptions {
  Precision precision = Precision::kF32;
  int64_t max_batch = 8;                        // rows per forward
  int64_t max_length = 0;                       // tokens per row; 0 = the model's max_seq
  int64_t logits_budget_bytes = int64_t{256} << 20;  // B*T*V*4 stays under this (B shrinks)
  int64_t pad_multiple = 32;                    // T is rounded up to this (fewer re-plans)
};

struct LlRequest {
  std::vector<int32_t> context = {};       // may be empty: then the end-of-text token is the context
  std::vector<int32_t> continuation;  // >= 1 token
};

struct LlResult {
  double logprob = 0.0;   // sum over continuation tokens, natural log
  bool is_greedy = false; // every continuation token is the argmax
  int64_t n_tokens = 0;   // continuation tokens scored
};

// One forward row: ids (<= max_length) and which positions' log-softmax rows are needed. The callback
// receives (row index, position, log-softmax over V at that position).
struct Row {
  std::vector<int32_t> ids = {};
  std::vector<int32_t> positions = {};
};
using RowVisitor = std::function<void(size_t row, int32_t position, std::span<const float> logprobs)>;

class LmScorer {
 public:
  // Checks that the tokenizer's ids fit the model's vocabulary.
  static Result<LmScorer> create(model::Transformer& model, const tok::Tokenizer& tokenizer, const LmOptions& opt);

  model::Transformer& model() { return *model_; }
  const tok::Tokenizer& tokenizer() const { return *tok_; }
  int64_t max_length() const { return max_length_; }
  int64_t vocab_size() const { return model_->config().vocab_size; }
  const LmOptions& options() const { return opt_; }
  // The id of "<|endoftext|>" (or "</s>", "<|end_of_text|>") when the tokenizer has one.
  std::optional<int32_t> eot() const { return eot_; }

  std::vector<int32_t> encode(std::string_view text) const;

  // Runs the rows in batches of equal padded length (longest first); visits every requested position
  // once, in no particular row order.
  Status run_rows(std::span<const Row> rows, const RowVisitor& visit);

  // Log-likelihoods of continuations (lm-eval semantics, see the file comment). Requests whose
  // continuation is one token and whose context is identical share one forward row.
  Result<std::vector<LlResult>> loglikelihood(std::span<const LlRequest> requests);

  // lm-eval `_encode_pair`: trailing spaces of the context move into the continuation, then
  // continuation tokens = enc(context + continuation)[len(enc(context)):].
  LlRequest encode_pair(std::string_view context, std::string_view continuation) const;

  // Log-probabilities of the next token after each sequence (truncated from the left to max_length):
  // the step of generation by recomputation.
  Status next_logprobs(std::span<const std::vector<int32_t>> seqs, std::vector<std::vector<float>>& out);

  int64_t n_forward_tokens() const { return n_forward_tokens_; }  // padded tokens run so far

 private:
  LmScorer() = default;
  Status ensure_plan(int64_t B, int64_t T);
  int64_t batch_for(int64_t T) const;

  model::Transformer* model_ = nullptr;
  const tok::Tokenizer* tok_ = nullptr;
  LmOptions opt_;
  int64_t max_length_ = 0;
  std::optional<int32_t> eot_ = {};
  std::vector<float> logits_ = {};
  int64_t n_forward_tokens_ = 0;
};

// log-softmax of one logits row into out (same length), computed with a max shift; double sums.
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace anvil::eval
