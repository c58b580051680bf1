// Hand-written PII scanners (pii.h). Each scanner proposes matches; find_pii() keeps the
// highest-priority non-overlapping ones. ASCII-only patterns, byte offsets.
#include "anvil/data/pii.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>

namespace anvil::data {
namespace {

bool dig(char c) { return c >= '0' && c <= '9'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool alnum(char c) { return dig(c) || alpha(c); }
bool hex(char c) { return dig(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool local_char(char c) { return alnum(c) || (c && std::strchr("!#$%&'*+/=?^_`{|}~.-", c) != nullptr); }
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct Text {
  std::string_view s;
  char at(size_t i) const { return i < s.size() ? s[i] : '\0'; }
  char before(size_t i) const { return i > 0 ? s[i - 1] : '\0'; }
};

void scan_url_credentials(const Text& t, std::vector<PiiMatch>& out) {
  for (size_t p = t.s.find("://"); p != std::string_view::npos; p = t.s.find("://", p + 3)) {
    if (p == 0 || !alpha(t.s[p - 1])) continue;
    const size_t begin = p + 3;
    size_t i = begin, colon = 0;
    while (i < t.s.size() && !space(t.s[i]) && t.s[i] != '/' && t.s[i] != '@' && t.s[i] != '?' && t.s[i] != '#') {
      if (t.s[i] == ':' && colon == 0) colon = i;
      ++i;
    }
    if (t.at(i) == '@' && colon > begin && i > colon + 1) out.push_back({PiiType::kUrlCredential, begin, i});
  }
}

void scan_emails(const Text& t, std::vector<PiiMatch>& out) {
  for (size_t a = t.s.find('@'); a != std::string_view::npos; a = t.s.find('@', a + 1)) {
    size_t l = a;
    while (l > 0 && local_char(t.s[l - 1])) --l;
    for (size_t k = l; k + 1 < a; ++k) {  // no ".." inside: start after the last one
      if (t.s[k] == '.' && t.s[k + 1] == '.') l = k + 2;
    }
    while (l < a && t.s[l] == '.') ++l;
    if (l == a || t.s[a - 1] == '.') continue;
    size_t r = a + 1, n_labels = 0, last_label = r;
    for (;;) {
      const size_t start = r;
      while (alnum(t.at(r)) || t.at(r) == '-') ++r;
      if (r == start || t.s[start] == '-' || t.s[r - 1] == '-') {
        r = start;
        break;
      }
      ++n_labels;
      last_label = start;
      if (t.at(r) == '.' && alnum(t.at(r + 1))) {
        ++r;
        continue;
      }
      break;
    }
    if (r > 0 && t.at(r - 1) == '.') --r;
    if (n_labels < 2) continue;
    size_t n_alpha = 0;
    bool tld_ok = true;
    for (size_t k = last_label; k < r; ++k) n_alpha += alpha(t.s[k]), tld_ok &= alpha(t.s[k]);
    if (!tld_ok || n_alpha < 2) continue;
    out.push_back({PiiType::kEmail, l, r});
  }
}

bool cn_id_at(const Text& t, size_t i) {
  if (alnum(t.before(i)) || i + 18 > t.s.size() || alnum(t.at(i + 18))) return false;
  return cn_id_valid(t.s.substr(i, 18));
}

// Longest run of 13–19 digits from i with single ' '/'-' separators that ends at a group end and
// passes Luhn with a 2–6 leading digit; returns the end or 0.
size_t credit_card_at(const Text& t, size_t i) {
  if (!dig(t.at(i)) || alnum(t.before(i)) || t.s[i] < '2' || t.s[i] > '6') return 0;
  std::string digits;
  std::vector<size_t> ends;  // ends[k] = byte end after k+1 digits, when that digit ends a group
  size_t j = i;
  while (digits.size() < 19) {
    if (!dig(t.at(j))) break;
    digits += t.s[j++];
    if (!dig(t.at(j))) {
      ends.resize(digits.size(), 0);
      ends[digits.size() - 1] = j;
      if ((t.at(j) == ' ' || t.at(j) == '-') && dig(t.at(j + 1))) {
        ++j;
        continue;
      }
      break;
    }
  }
  if (dig(t.at(j)) && digits.size() == 19) return 0;  // part of a longer number
  for (size_t n = std::min<size_t>(digits.size(), 19); n >= 13; --n) {
    if (n - 1 < ends.size() && ends[n - 1] != 0 && luhn_valid(std::string_view(digits).substr(0, n))) {
      return ends[n - 1];
    }
  }
  return 0;
}

bool public_v4(const int o[4]) {
  if (o[0] == 0 || o[0] == 10 || o[0] == 127 || o[0] >= 224) return false;
  if (o[0] == 169 && o[1] == 254) return false;
  if (o[0] == 172 && o[1] >= 16 && o[1] <= 31) return false;
  if (o[0] == 192 && o[1] == 168) return false;
  if (o[0] == 100 && o[1] >= 64 && o[1] <= 127) return false;
  if (o[0] == 198 && (o[1] == 18 || o[1] == 19)) return false;
  if ((o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2)) || (o[0] == 198 && o[1] == 51 && o[2] == 100) ||
      (o[0] == 203 && o[1] == 0 && o[2] == 113)) {
    return false;
  }
  return true;
}

size_t ipv4_at(const Text& t, size_t i, bool only_public) {
  if (!dig(t.at(i)) || dig(t.before(i)) || t.before(i) == '.' || alpha(t.before(i))) return 0;
  int o[4];
  size_t j = i;
  for (int k = 0; k < 4; ++k) {
    if (k > 0) {
      if (t.at(j) != '.') return 0;
      ++j;
    }
    int v = 0, n = 0;
    while (dig(t.at(j)) && n < 4) v = v * 10 + (t.s[j++] - '0'), ++n;
    if (n == 0 || n > 3 || v > 255) return 0;
    o[k] = v;
  }
  if (dig(t.at(j)) || alpha(t.at(j)) || (t.at(j) == '.' && dig(t.at(j + 1)))) return 0;
  if (only_public && !public_v4(o)) return 0;
  return j;
}

size_t ipv6_at(const Text& t, size_t i, bool only_public) {
  const char p = t.before(i);
  if (!(hex(t.at(i)) || t.at(i) == ':') || alnum(p) || p == ':' || p == '.') return 0;
  size_t j = i, n_colon = 0;
  while (hex(t.at(j)) || t.at(j) == ':' || t.at(j) == '.') n_colon += t.s[j++] == ':';
  while (j > i && t.s[j - 1] == '.') --j;
  if (n_colon < 2 || alnum(t.at(j)) || j - i > 45) return 0;
  const std::string cand(t.s.substr(i, j - i));
  unsigned char a[16];
  if (inet_pton(AF_INET6, cand.c_str(), a) != 1) return 0;
  if (only_public) {
    static const unsigned char kZero[16] = {};
    if (std::memcmp(a, kZero, 15) == 0 && (a[15] == 0 || a[15] == 1)) return 0;  // :: and ::1
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return 0;                         // fe80::/10
    if ((a[0] & 0xfe) == 0xfc) return 0;                                         // fc00::/7
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return 0;  // 2001:db8::/32
    if (a[0] == 0xff) return 0;                                                  // multicast
  }
  return j;
}

// Digits with single separators from `seps`; returns the end and the digit count.
size_t digit_run(const Text& t, size_t j, const char* seps, size_t* n_digits) {
  *n_digits = 0;
  size_t end = j;
  while (j < t.s.size()) {
    if (dig(t.s[j])) {
      ++*n_digits, end = ++j;
    } else if (std::strchr(seps, t.s[j]) && *n_digits > 0 && (dig(t.at(j + 1)) || t.at(j + 1) == '(')) {
      ++j;
    } else {
      break;
    }
  }
  return end;
}

size_t phone_at(const Text& t, size_t i) {
  const char c = t.at(i), p = t.before(i);
  if (alnum(p) || p == '+') return 0;
  size_t n = 0, end = 0;
  if (c == '+' && dig(t.at(i + 1)) && t.at(i + 1) != '0') {  // +CC …, E.164: 8–15 digits
    end = digit_run(t, i + 1, " -.()", &n);
    return n >= 8 && n <= 15 && !dig(t.at(end)) ? end : 0;
  }
  if (c == '1' && t.at(i + 1) >= '3' && t.at(i + 1) <= '9') {  // CN mobile 1[3-9]x xxxx xxxx
    end = digit_run(t, i, " -", &n);
    if (n == 11 && !dig(t.at(end)) && !alpha(t.at(end))) return end;
  }
  if (c == '0' && dig(t.at(i + 1)) && t.at(i + 1) != '0') {  // CN landline 0AA(A)-NNNNNNN(N)
    size_t a = i;
    while (dig(t.at(a))) ++a;
    if ((a - i == 3 || a - i == 4) && t.at(a) == '-') {
      size_t b = a + 1;
      while (dig(t.at(b))) ++b;
      if ((b - a - 1 == 7 || b - a - 1 == 8) && !alnum(t.at(b))) return b;
    }
  }
  // North American (NNN) NNN-NNNN / NNN-NNN-NNNN / NNN.NNN.NNNN: separators required.
  size_t j = i;
  if (c == '(') {
    if (!(dig(t.at(i + 1)) && dig(t.at(i + 2)) && dig(t.at(i + 3)) && t.at(i + 4) == ')')) return 0;
    j = i + 5;
    if (t.at(j) == ' ') ++j;
  } else {
    if (!(dig(c) && dig(t.at(i + 1)) && dig(t.at(i + 2)))) return 0;
    const char sep = t.at(i + 3);
    if (sep != '-' && sep != '.' && sep != ' ') return 0;
    j = i + 4;
  }
  if (!(dig(t.at(j)) && dig(t.at(j + 1)) && dig(t.at(j + 2)))) return 0;
  const char sep2 = t.at(j + 3);
  if (sep2 != '-' && sep2 != '.') return 0;
  j += 4;
  for (int k = 0; k < 4; ++k, ++j) {
    if (!dig(t.at(j))) return 0;
  }
  return alnum(t.at(j)) ? 0 : j;
}

constexpr const char* kNames[kNumPiiTypes] = {"url_credential", "email", "cn_id", "credit_card", "ipv6", "ipv4",
                                              "phone"};
constexpr const char* kPlaceholders[kNumPiiTypes] = {"<CREDENTIALS>", "<EMAIL>", "<ID_NUMBER>", "<CREDIT_CARD>",
                                                     "<IP_ADDRESS>",  "<IP_ADDRESS>", "<PHONE>"};

}  // namespace

bool luhn_valid(std::string_view d) {
  int sum = 0;
  bool twice = false;
  for (size_t k = d.size(); k-- > 0;) {
    if (!dig(d[k])) return false;
    int v = d[k] - '0';
    if (twice) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
    twice = !twice;
  }
  return !d.empty() && sum % 10 == 0;
}

bool cn_id_valid(std::string_view id) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  if (id.size() != 18) return false;
  int sum = 0;
  for (int k = 0; k < 17; ++k) {
    if (!dig(id[k])) return false;
    sum += (id[k] - '0') * kWeights[k];
  }
  const char last = id[17] == 'x' ? 'X' : id[17];
  if (last != kCheck[sum % 11]) return false;
  auto num = [&](size_t b, size_t n) {
    int v = 0;
    for (size_t k = b; k < b + n; ++k) v = v * 10 + (id[k] - '0');
    return v;
  };
  const int year = num(6, 4), month = num(10, 2), day = num(12, 2);
  return year >= 1900 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

const char* pii_type_name(PiiType t) { return kNames[static_cast<size_t>(t)]; }
const char* pii_placeholder(PiiType t) { return kPlaceholders[static_cast<size_t>(t)]; }

Result<PiiType> parse_pii_type(std::string_view s) {
  for (size_t k = 0; k < kNumPiiTypes; ++k) {
    if (s == kNames[k]) return static_cast<PiiType>(k);
  }
  return invalid_argument("[pii] unknown PII type '{}' (expected url_credential|email|cn_id|credit_card|ipv6|ipv4|"
                          "phone)",
                          s);
}

Result<PiiAction> parse_pii_action(std::string_view s) {
  if (s == "keep") return PiiAction::kKeep;
  if (s == "redact") return PiiAction::kRedact;
  if (s == "drop") return PiiAction::kDrop;
  return invalid_argument("[pii] unknown action '{}' (expected keep|redact|drop)", s);
}

std::vector<PiiMatch> find_pii(std::string_view text, const PiiOptions& opt) {
  const Text t{text};
  std::vector<PiiMatch> cand;
  scan_url_credentials(t, cand);
  scan_emails(t, cand);
  // One pass for the digit/hex-led patterns; a position yields at most one match per type.
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!(hex(c) || c == ':' || c == '+' || c == '(')) continue;
    if (dig(c)) {
      if (cn_id_at(t, i)) cand.push_back({PiiType::kCnId, i, i + 18});
      if (size_t e = credit_card_at(t, i)) cand.push_back({PiiType::kCreditCard, i, e});
      if (size_t e = ipv4_at(t, i, opt.only_public_ips)) cand.push_back({PiiType::kIpv4, i, e});
    }
    if (size_t e = ipv6_at(t, i, opt.only_public_ips)) cand.push_back({PiiType::kIpv6, i, e});
    if (size_t e = phone_at(t, i)) cand.push_back({PiiType::kPhone, i, e});
  }
  // Highest priority (lowest enum) first, then earliest; keep what does not overlap a kept match.
  std::stable_sort(cand.begin(), cand.end(), [](const PiiMatch& a, const PiiMatch& b) {
    return a.type != b.type ? a.type < b.type : a.begin < b.begin;
  });
  std::vector<PiiMatch> kept;
  for (const auto& m : cand) {
    if (opt.action[static_cast<size_t>(m.type)] == PiiAction::kKeep) continue;
    bool overlaps = false;
    for (const auto& k : kept) overlaps |= m.begin < k.end && k.begin < m.end;
    if (!overlaps) kept.push_back(m);
  }
  std::sort(kept.begin(), kept.end(), [](const PiiMatch& a, const PiiMatch& b) { return a.begin < b.begin; });
  return kept;
}

PiiResult apply_pii(std::string& text, const PiiOptions& opt) {
  PiiResult r;
  const auto matches = find_pii(text, opt);
  if (matches.empty()) return r;
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (const auto& m : matches) {
    const size_t k = static_cast<size_t>(m.type);
    ++r.n_found[k];
    if (opt.action[k] == PiiAction::kDrop) r.drop = true;
    if (opt.action[k] != PiiAction::kRedact) continue;
    out.append(text, pos, m.begin - pos);
    out += kPlaceholders[k];
    pos = m.end;
  }
  out.append(text, pos, std::string::npos);
  text.swap(out);
  return r;
}

}  // namespace anvil::data
