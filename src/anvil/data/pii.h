// PII detection and redaction with hand-written scanners (no std::regex on the hot path): emails
// (datatrove's pattern, method-specs §8.8), phone numbers (+international, mainland-China mobile and
// landline, North-American), IPv4 / IPv6 (public addresses only by default, like datatrove), credit
// cards (13–19 digits, Luhn), mainland-China resident IDs (ISO 7064 MOD 11-2 check digit and a valid
// birth date), and user:password credentials in URLs. Per type: keep, redact with a placeholder, or
// drop the document. Overlaps resolve by type priority (the enum order).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "anvil/base/status.h"

namespace anvil::data {

enum class PiiType : uint8_t { kUrlCredential, kEmail, kCnId, kCreditCard, kIpv6, kIpv4, kPhone, kCount };
inline constexpr size_t kNumPiiTypes = static_cast<size_t>(PiiType::kCount);
enum class PiiAction : uint8_t { kKeep, kRedact, kDrop };

struct PiiOptions {
  std::array<PiiAction, kNumPiiTypes> action = {PiiAction::kRedact, PiiAction::kRedact, PiiAction::kRedact,
                                                PiiAction::kRedact, PiiAction::kRedact, PiiAction::kRedact,
                                                PiiAction::kRedact};
  bool only_public_ips = true;  // private, loopback, link-local, documentation ranges are not PII
};

struct PiiMatch {
  PiiType type;
  size_t begin, end;  // byte range in the text
};

const char* pii_type_name(PiiType t);    // "email", "phone", ...
const char* pii_placeholder(PiiType t);  // "<EMAIL>", "<PHONE>", ...
Result<PiiType> parse_pii_type(std::string_view s);
Result<PiiAction> parse_pii_action(std::string_view s);  // keep|redact|drop

// All non-overlapping matches, sorted by position.
std::vector<PiiMatch> find_pii(std::string_view text, const PiiOptions& opt = {});

struct PiiResult {
  bool drop = false;
  std::array<uint32_t, kNumPiiTypes> n_found{};
};
// Redacts in place the types whose action is kRedact; drop is set if any kDrop type was found.
PiiResult apply_pii(std::string& text, const PiiOptions& opt = {});

// Checks exposed for tests.
bool luhn_valid(std::string_view digits);
bool cn_id_valid(std::string_view id18);

}  // namespace anvil::data
