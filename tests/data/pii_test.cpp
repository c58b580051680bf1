// PII scanners: true positives for every type and format, and the look-alikes they must leave alone
// (version numbers, private IPs, Luhn-failing digit runs, IDs with a wrong check digit, times, code).
#include <gtest/gtest.h>

#include "anvil/data/pii.h"

namespace anvil::data {
namespace {

std::string redact(std::string s, const PiiOptions& opt = {}) {
  apply_pii(s, opt);
  return s;
}

TEST(Pii, ChecksumHelpers) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_TRUE(luhn_valid("378282246310005"));
  EXPECT_TRUE(cn_id_valid("11010519491231002X"));   // the GB 11643 standard's example
  EXPECT_TRUE(cn_id_valid("11010519491231002x"));
  EXPECT_FALSE(cn_id_valid("110105194912310021"));  // wrong check digit
  EXPECT_FALSE(cn_id_valid("110105194913310020"));  // month 13 (check digit aside)
}

TEST(Pii, TruePositives) {
  struct Case {
    std::string in, want;
  };
  const Case cases[] = {
      {"mail john.doe+x@mail.example.com now", "mail <EMAIL> now"},
      {"<a.b@c-d.org>", "<<EMAIL>>"},
      {"ip 8.8.8.8, done", "ip <IP_ADDRESS>, done"},
      {"v6 2606:4700:4700::1111 ok", "v6 <IP_ADDRESS> ok"},
      {"card 4111 1111 1111 1111.", "card <CREDIT_CARD>."},
      {"card 4111-1111-1111-1111", "card <CREDIT_CARD>"},
      {"amex 378282246310005", "amex <CREDIT_CARD>"},
      {"身份证号11010519491231002X。", "身份证号<ID_NUMBER>。"},
      {"手机 13812345678，", "手机 <PHONE>，"},
      {"call 138-1234-5678", "call <PHONE>"},
      {"tel +86 138 1234 5678", "tel <PHONE>"},
      {"tel +44 20 7946 0958", "tel <PHONE>"},
      {"office 010-12345678", "office <PHONE>"},
      {"us (415) 555-2671 or 415-555-2671", "us <PHONE> or <PHONE>"},
      {"git https://alice:s3cret@github.com/x", "git https://<CREDENTIALS>@github.com/x"},
  };
  for (const Case& c : cases) EXPECT_EQ(redact(c.in), c.want) << c.in;
}

TEST(Pii, FalsePositivesAreLeftAlone) {
  const char* keep[] = {
      "version 1.2.3 and 2.10.4.1.7",        // not a dotted quad (five parts)
      "private 192.168.1.1 and 10.0.0.1",    // private ranges (only_public_ips)
      "loopback 127.0.0.1 and ::1",          // loopback
      "doc 2001:db8::1 and fe80::1",         // documentation / link-local v6
      "time 12:30:45 and std::string",       // colons that are not addresses
      "number 4111111111111112",             // fails Luhn
      "id 110105194912310021",               // wrong check digit
      "user@localhost has no domain",        // one-label domain
      "a@b.c1 bad tld",                      // TLD with a digit
      "year 2024 count 12345678",            // plain numbers
      "isbn 978-3-16-148410-0",              // dashes but no phone shape
      "see http://example.com/a:b@c? no",    // ':' after the path starts
  };
  for (const char* s : keep) EXPECT_EQ(redact(s), s) << s;
}

TEST(Pii, ActionsAndCounts) {
  PiiOptions opt;
  opt.action[static_cast<size_t>(PiiType::kEmail)] = PiiAction::kDrop;
  opt.action[static_cast<size_t>(PiiType::kPhone)] = PiiAction::kKeep;
  std::string s = "a@example.com and 13812345678 and 8.8.4.4";
  const PiiResult r = apply_pii(s, opt);
  EXPECT_TRUE(r.drop);
  EXPECT_EQ(r.n_found[static_cast<size_t>(PiiType::kEmail)], 1u);
  EXPECT_EQ(r.n_found[static_cast<size_t>(PiiType::kPhone)], 0u);  // kept types are not looked for
  EXPECT_EQ(s, "a@example.com and 13812345678 and <IP_ADDRESS>");
  PiiOptions all_ips;
  all_ips.only_public_ips = false;
  EXPECT_EQ(redact("lan 192.168.1.1", all_ips), "lan <IP_ADDRESS>");
  EXPECT_FALSE(parse_pii_action("erase").ok());
  EXPECT_EQ(*parse_pii_type("cn_id"), PiiType::kCnId);
}

}  // namespace
}  // namespace anvil::data
