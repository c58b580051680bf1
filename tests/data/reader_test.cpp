// Readers: JSONL with broken lines counted (never fatal unless strict), zstd by magic, the three
// plain-text units, record caps, lines across the 1 MiB read buffer, and shard i/N partitions.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <zstd.h>

#include "anvil/base/file.h"
#include "anvil/base/rng.h"
#include "anvil/data/reader.h"
#include "support/temp_dir.h"

namespace anvil::data {
namespace {

namespace fs = std::filesystem;

std::string tmp_path(const std::string& name) {
  return (test::temp_root() / name).string();
}

std::string write_tmp(const std::string& name, const std::string& data) {
  const std::string p = tmp_path(name);
  EXPECT_TRUE(write_file_atomic(p, data).ok());
  return p;
}

std::string zstd(const std::string& s) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), s.data(), s.size(), 3));
  return out;
}

std::vector<Document> read_all(const std::string& path, const ReaderOptions& opt, RecordStats* stats = nullptr) {
  auto r = DocumentReader::open(path, opt);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  std::vector<Document> docs;
  if (!r.ok()) return docs;
  Document d;
  for (;;) {
    auto more = (*r)->next(d);
    EXPECT_TRUE(more.ok()) << more.status().to_string();
    if (!more.ok() || !*more) break;
    docs.push_back(d);
  }
  if (stats) *stats = (*r)->stats();
  return docs;
}

const std::string kJsonl =
    "{\"id\":\"a\",\"text\":\"hello\",\"source\":\"web\",\"meta\":{\"k\":1}}\n"
    "not json at all\n"
    "\n"
    "{\"text\":\"second\"}\r\n"
    "{\"body\":\"wrong field\"}\n"
    "[1,2,3]\n"
    "{\"id\":7,\"text\":\"third\"}\n"
    "{\"text\": 12}\n"
    "{\"text\":\"no newline at end\"}";

TEST(Reader, JsonlCountsBrokenLinesWithFileAndLine) {
  const std::string p = write_tmp("docs.jsonl", kJsonl);
  RecordStats st;
  const auto docs = read_all(p, {.source = "default"}, &st);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].id, "a");
  EXPECT_EQ(docs[0].source, "web");
  EXPECT_EQ(docs[0].meta["k"], 1);
  EXPECT_EQ(docs[1].text, "second");
  EXPECT_EQ(docs[1].id, "docs.jsonl:4");
  EXPECT_EQ(docs[1].source, "default");
  EXPECT_EQ(docs[2].id, "7");
  EXPECT_EQ(docs[3].text, "no newline at end");
  EXPECT_EQ(st.n_input, 8u);  // the blank line is not a record
  const auto bad = static_cast<size_t>(DropReason::kBadRecord);
  EXPECT_EQ(st.n_dropped[bad], 4u);
  ASSERT_FALSE(st.examples[bad].empty());
  EXPECT_NE(st.examples[bad][0].find("docs.jsonl:2: invalid JSON"), std::string::npos) << st.examples[bad][0];
  EXPECT_NE(st.examples[bad][1].find(":5: no string field 'text'"), std::string::npos) << st.examples[bad][1];
}

TEST(Reader, StrictModeMakesABrokenLineAnError) {
  const std::string p = write_tmp("strict.jsonl", kJsonl);
  auto r = DocumentReader::open(p, {.strict = true});
  ASSERT_TRUE(r.ok());
  Document d;
  ASSERT_TRUE(*(*r)->next(d));
  auto more = (*r)->next(d);
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("strict.jsonl:2"), std::string::npos) << more.status().message();
}

TEST(Reader, CustomFields) {
  const std::string p = write_tmp("custom.jsonl", "{\"doc_id\":\"x1\",\"content\":\"body\"}\n");
  const auto docs = read_all(p, {.text_field = "content", .id_field = "doc_id"});
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].id, "x1");
  EXPECT_EQ(docs[0].text, "body");
}

TEST(Reader, ZstdIsDetectedByMagicAndTruncationIsAnError) {
  const std::string plain = read_all(write_tmp("p.jsonl", kJsonl), {}).back().text;
  // A compressed file named .jsonl (no .zst) still decompresses; format comes from the name sans .zst.
  const auto docs = read_all(write_tmp("c.jsonl", zstd(kJsonl)), {});
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs.back().text, plain);
  EXPECT_EQ(read_all(write_tmp("c.jsonl.zst", zstd(kJsonl)), {}).size(), 4u);
  const std::string z = zstd(kJsonl);
  auto r = DocumentReader::open(write_tmp("trunc.jsonl.zst", z.substr(0, z.size() - 5)), {});
  ASSERT_TRUE(r.ok());
  Document d;
  Status last;
  for (;;) {
    auto more = (*r)->next(d);
    if (!more.ok()) {
      last = more.status();
      break;
    }
    if (!*more) break;
  }
  EXPECT_FALSE(last.ok());
  EXPECT_NE(last.message().find("trunc.jsonl.zst"), std::string::npos);
}

TEST(Reader, PlainTextUnits) {
  const std::string text = "first para\nline two\n\n\n  \nsecond para\n\nthird\n";
  const std::string p = write_tmp("t.txt", text);
  const auto blocks = read_all(p, {.text_unit = TextUnit::kBlankLine});
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].text, "first para\nline two");
  EXPECT_EQ(blocks[1].text, "second para");
  EXPECT_EQ(blocks[1].id, "t.txt:6");
  EXPECT_EQ(read_all(p, {.text_unit = TextUnit::kLine}).size(), 4u);
  const auto whole = read_all(p, {.text_unit = TextUnit::kFile});
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].text, "first para\nline two\n\n\n  \nsecond para\n\nthird");
  EXPECT_EQ(read_all(write_tmp("e.txt", ""), {.text_unit = TextUnit::kFile}).size(), 0u);
}

TEST(Reader, OverlongRecordsAreBadRecords) {
  const std::string p = write_tmp("long.txt", std::string(5000, 'x') + "\n\nshort\n");
  RecordStats st;
  const auto docs = read_all(p, {.text_unit = TextUnit::kBlankLine, .max_record_bytes = 1000}, &st);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "short");
  EXPECT_EQ(st.n_dropped[static_cast<size_t>(DropReason::kBadRecord)], 1u);
  EXPECT_TRUE(st.n_input == 2u);
}

TEST(Reader, LinesAcrossBufferBoundariesAndShards) {
  Rng rng(1);
  std::string data;
  std::vector<std::string> want;
  while (data.size() < (size_t{3} << 20)) {  // 3 MiB: lines straddle the 1 MiB read buffer
    std::string t(1 + rng.below(20000), 'a' + static_cast<char>(rng.below(26)));
    t += std::to_string(want.size());
    want.push_back(t);
    data += nlohmann::json{{"text", t}}.dump() + "\n";
  }
  const std::string p = write_tmp("big.jsonl.zst", zstd(data));
  const auto all = read_all(p, {});
  ASSERT_EQ(all.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(all[i].text, want[i]);
  // Shards 0..2 of 3 partition the records.
  std::multiset<std::string> seen;
  for (uint32_t i = 0; i < 3; ++i) {
    RecordStats st;
    for (const auto& d : read_all(p, {.shard_index = i, .n_shards = 3}, &st)) seen.insert(d.text);
    EXPECT_EQ(st.n_input, (want.size() + 2 - i) / 3);
  }
  EXPECT_EQ(seen, std::multiset<std::string>(want.begin(), want.end()));
  EXPECT_FALSE(DocumentReader::open(p, {.shard_index = 3, .n_shards = 3}).ok());
  EXPECT_FALSE(DocumentReader::open(tmp_path("missing.jsonl"), {}).ok());
}

}  // namespace
}  // namespace anvil::data
