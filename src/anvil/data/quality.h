// Heuristic quality filters with the published thresholds as defaults: Gopher quality (method-specs
// §8.4) and repetition (§8.5), following datatrove's filters, and C4 (§8.6, datatrove C4QualityFilter,
// which also rewrites the text by dropping lines). Words are whitespace-separated; lengths are UTF-8
// bytes (datatrove counts code points; identical for ASCII). Each check returns the name of the failed
// rule ("gopher_short_doc", "c4_too_few_sentences", …) or nullopt to keep the document.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::data {

struct GopherQualityOptions {
  size_t min_doc_words = 50, max_doc_words = 100000;
  double min_avg_word_length = 3, max_avg_word_length = 10;
  double max_symbol_word_ratio = 0.1;     // "#" and "..."/"…" per word
  double max_bullet_lines_ratio = 0.9;    // lines starting with • or -
  double max_ellipsis_lines_ratio = 0.3;  // lines ending with ... or …
  double min_alpha_words_ratio = 0.8;     // words with at least one letter
  size_t min_stop_words = 2;              // distinct words from stop_words
  std::vector<std::string> stop_words = {"the", "be", "to", "of", "and", "that", "have", "with"};
};

struct GopherRepetitionOptions {
  double dup_para_frac = 0.3, dup_para_char_frac = 0.2;
  double dup_line_frac = 0.3, dup_line_char_frac = 0.2;
  std::vector<std::pair<int, double>> top_n_grams = {{2, 0.2}, {3, 0.18}, {4, 0.16}};
  std::vector<std::pair<int, double>> dup_n_grams = {{5, 0.15}, {6, 0.14}, {7, 0.13},
                                                     {8, 0.12}, {9, 0.11}, {10, 0.10}};
};

struct C4Options {
  bool remove_citations = true;
  bool filter_no_terminal_punct = true;
  size_t min_words_per_line = 3;
  size_t max_word_length = 1000;
  bool filter_lorem_ipsum = true, filter_javascript = true, filter_curly_bracket = true, filter_policy = true;
  size_t min_num_sentences = 5;
};

std::optional<std::string> gopher_quality(std::string_view text, const GopherQualityOptions& opt = {});
std::optional<std::string> gopher_repetition(std::string_view text, const GopherRepetitionOptions& opt = {});
// Drops failing lines from `text` (kept lines joined by "\n"); a returned reason drops the document.
std::optional<std::string> c4_filter(std::string& text, const C4Options& opt = {});

}  // namespace anvil::data
