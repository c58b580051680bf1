// RecordStats bookkeeping and the stable names of DropReason (used as keys in prep_report.json).
#include "anvil/data/record.h"

#include "anvil/base/check.h"

namespace anvil::data {

const char* drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::kBadRecord: return "bad_record";
    case DropReason::kBadUtf8: return "bad_utf8";
    case DropReason::kEmpty: return "empty";
    case DropReason::kLanguage: return "language";
    case DropReason::kExactDuplicate: return "exact_duplicate";
    case DropReason::kNearDuplicate: return "near_duplicate";
    case DropReason::kPii: return "pii";
    case DropReason::kGopherQuality: return "gopher_quality";
    case DropReason::kGopherRepetition: return "gopher_repetition";
    case DropReason::kC4: return "c4";
    case DropReason::kPerplexity: return "perplexity";
    case DropReason::kMixingDownsample: return "mixing_downsample";
    case DropReason::kCategoryDownsample: return "category_downsample";
    case DropReason::kCount: break;
  }
  return "unknown";
}

void RecordStats::add_dropped(DropReason r, std::string_view text, std::string_view where) {
  const size_t i = static_cast<size_t>(r);
  ANVIL_CHECK(i < kNumDropReasons);
  ++n_dropped[i];
  bytes_dropped[i] += text.size();
  if (examples[i].size() < kMaxExamples) {
    std::string ex(where);
    ex += ": ";
    ex += text.substr(0, kExampleChars);
    examples[i].push_back(std::move(ex));
  }
}

uint64_t RecordStats::n_dropped_total() const {
  uint64_t n = 0;
  for (uint64_t d : n_dropped) n += d;
  return n;
}

void RecordStats::merge(const RecordStats& o) {
  n_input += o.n_input, bytes_input += o.bytes_input;
  n_kept += o.n_kept, bytes_kept += o.bytes_kept;
  for (size_t i = 0; i < kNumDropReasons; ++i) {
    n_dropped[i] += o.n_dropped[i];
    bytes_dropped[i] += o.bytes_dropped[i];
    for (const auto& e : o.examples[i]) {
      if (examples[i].size() < kMaxExamples) examples[i].push_back(e);
    }
  }
}

void RecordStats::absorb_later_drops(const RecordStats& later) {
  merge(later);
  n_kept -= later.n_dropped_total();
  uint64_t bytes = 0;
  for (uint64_t b : later.bytes_dropped) bytes += b;
  bytes_kept -= bytes;
}

RecordStats RecordStats::from_json(const nlohmann::json& j) {
  RecordStats s;
  s.n_input = j.value("n_input", uint64_t{0});
  s.bytes_input = j.value("bytes_input", uint64_t{0});
  s.n_kept = j.value("n_kept", uint64_t{0});
  s.bytes_kept = j.value("bytes_kept", uint64_t{0});
  if (j.contains("dropped") && j["dropped"].is_object()) {
    for (size_t i = 0; i < kNumDropReasons; ++i) {
      const char* name = drop_reason_name(static_cast<DropReason>(i));
      if (!j["dropped"].contains(name)) continue;
      const auto& d = j["dropped"][name];
      s.n_dropped[i] = d.value("n", uint64_t{0});
      s.bytes_dropped[i] = d.value("bytes", uint64_t{0});
      if (d.contains("examples") && d["examples"].is_array()) {
        for (const auto& e : d["examples"]) {
          if (e.is_string() && s.examples[i].size() < kMaxExamples) s.examples[i].push_back(e.get<std::string>());
        }
      }
    }
  }
  return s;
}

nlohmann::json RecordStats::to_json() const {
  nlohmann::json j = {{"n_input", n_input}, {"bytes_input", bytes_input},
                      {"n_kept", n_kept},   {"bytes_kept", bytes_kept}};
  nlohmann::json dropped = nlohmann::json::object();
  for (size_t i = 0; i < kNumDropReasons; ++i) {
    if (n_dropped[i] == 0) continue;
    dropped[drop_reason_name(static_cast<DropReason>(i))] = {
        {"n", n_dropped[i]}, {"bytes", bytes_dropped[i]}, {"examples", examples[i]}};
  }
  j["dropped"] = std::move(dropped);
  j["balanced"] = balanced();
  return j;
}

}  // namespace anvil::data
