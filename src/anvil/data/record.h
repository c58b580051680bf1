// The unit every data stage passes along (Document) and the accounting every stage keeps: each input
// record ends either kept or dropped with exactly one DropReason, so for any run
// n_input == n_kept + Σ n_dropped[reason] (the prep report asserts this). Document fields follow the
// JSONL contract in docs/formats/documents.md: `text` (+ optional `id`, `source`, `meta`).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace anvil::data {

struct Document {
  std::string id = {};
  std::string text = {};
  std::string source = {};
  nlohmann::json meta = nlohmann::json::object();
  std::string category = {};  // ReaderOptions::category_field's value ("(none)" when absent); else empty
};

// Why a record left the pipeline. Append new reasons at the end (reports store the names).
enum class DropReason : uint8_t {
  kBadRecord = 0,   // a line that is not valid JSON, or lacks the text field
  kBadUtf8,         // invalid UTF-8 under the "drop" policy
  kEmpty,           // nothing left after normalization
  kLanguage,        // script/language not in the keep-list
  kExactDuplicate,  // same normalized text as an earlier record
  kNearDuplicate,   // MinHash-LSH cluster member other than the kept one
  kPii,             // PII found under a "drop" policy
  kGopherQuality,
  kGopherRepetition,
  kC4,
  kPerplexity,
  kMixingDownsample,    // left out to reach the target mixture
  kCategoryDownsample,  // left out to reach the target category shares of a [[balance]] scope
  kCount
};
inline constexpr size_t kNumDropReasons = static_cast<size_t>(DropReason::kCount);

const char* drop_reason_name(DropReason r);  // "bad_record", "near_duplicate", ...

// Counts and bytes, in and out, for one stage or a whole run, plus a few dropped examples per reason.
struct RecordStats {
  static constexpr size_t kMaxExamples = 3;
  static constexpr size_t kExampleChars = 300;

  uint64_t n_input = 0, bytes_input = 0;
  uint64_t n_kept = 0, bytes_kept = 0;
  std::array<uint64_t, kNumDropReasons> n_dropped{};
  std::array<uint64_t, kNumDropReasons> bytes_dropped{};
  std::array<std::vector<std::string>, kNumDropReasons> examples;

  void add_input(size_t bytes) { ++n_input, bytes_input += bytes; }
  void add_kept(size_t bytes) { ++n_kept, bytes_kept += bytes; }
  // `where` says which file/line (or id) the example came from; the text is cut to kExampleChars.
  void add_dropped(DropReason r, std::string_view text, std::string_view where);
  uint64_t n_dropped_total() const;
  bool balanced() const { return n_input == n_kept + n_dropped_total(); }
  void merge(const RecordStats& other);
  // Folds in drops decided by a later stage for records this one counted as kept (`later` holds
  // only drops): they move from kept to dropped.
  void absorb_later_drops(const RecordStats& later);
  nlohmann::json to_json() const;
  static RecordStats from_json(const nlohmann::json& j);  // inverse of to_json (bad fields → zero)
};

}  // namespace anvil::data
