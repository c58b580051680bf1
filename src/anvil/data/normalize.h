// Text normalization, in this order: UTF-8 validation (repair with U+FFFD, one per maximal invalid
// subpart as Unicode §3.9 recommends, or drop), NFKC (utf8proc; skipped for pure ASCII, where it is the
// identity), control-character and whitespace cleanup, then script-based language detection
// (zh / en / other) against a keep-list. Rules and thresholds: docs/data.md §normalization.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"
#include "anvil/data/record.h"

namespace anvil::data {

enum class Utf8Policy { kRepair, kDrop };
enum class Lang : uint8_t { kZh, kEn, kOther };

struct NormalizeOptions {
  Utf8Policy utf8 = Utf8Policy::kRepair;
  bool nfkc = true;
  bool clean = true;                 // control characters and whitespace
  std::vector<Lang> keep_languages = {};  // empty: keep every language
};

struct NormalizeResult {
  std::optional<DropReason> drop;  // set when the document must go
  Lang lang = Lang::kOther;
  size_t n_invalid_utf8 = 0;       // invalid subparts found (repaired or the cause of the drop)
};

// Number of maximal invalid subparts in `s` (0 = valid UTF-8; surrogates and overlongs are invalid).
size_t count_invalid_utf8(std::string_view s);
// Copies `in` to `out` with each maximal invalid subpart replaced by U+FFFD; returns how many.
size_t repair_utf8(std::string_view in, std::string& out);
// NFKC of valid UTF-8 in place; false if utf8proc refused (then `text` is unchanged). Runs of code
// points NFKC cannot touch are copied as they are; utf8proc sees only the regions around the others.
bool nfkc_inplace(std::string& text);
// The same through one utf8proc_map call over the whole text (the slow path the fast one must equal).
bool nfkc_inplace_reference(std::string& text);
// Removes C0/C1 controls (except \n, \t) and zero-width characters, turns \r\n and \r into \n and
// tabs into spaces, collapses runs of spaces, strips spaces at line starts and ends, keeps at most one
// blank line in a row, trims the document.
void clean_whitespace(std::string& text);
Lang detect_language(std::string_view text);

const char* lang_name(Lang l);  // "zh", "en", "other"
Result<Lang> parse_lang(std::string_view s);

// The whole chain on one document, in place.
NormalizeResult normalize_document(std::string& text, const NormalizeOptions& opt);

}  // namespace anvil::data
