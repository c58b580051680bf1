#include "anvil/base/file.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace anvil {
namespace {

std::string temp_path(const std::string& name) {
  return (test::temp_root() / name).string();
}

TEST(File, AtomicWriteThenReadAndMap) {
  const std::string p = temp_path("a.bin");
  ASSERT_TRUE(write_file_atomic(p, "hello anvil").ok());
  auto r = read_file(p);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, "hello anvil");
  auto m = MappedFile::open(p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->data()), m->size()), "hello anvil");
  // Overwrite keeps no temp files behind.
  ASSERT_TRUE(write_file_atomic(p, "v2").ok());
  EXPECT_EQ(*read_file(p), "v2");
  for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(p).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(File, UncommittedWriterLeavesOldFile) {
  const std::string p = temp_path("b.bin");
  ASSERT_TRUE(write_file_atomic(p, "old").ok());
  {
    AtomicFileWriter w;
    ASSERT_TRUE(w.open(p).ok());
    ASSERT_TRUE(w.write("new", 3).ok());
  }  // destroyed without commit
  EXPECT_EQ(*read_file(p), "old");
}

TEST(File, MissingFileIsAnErrorNamingThePath) {
  auto r = read_file("/nonexistent/anvil/x.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/anvil/x.txt"), std::string::npos);
  auto m = MappedFile::open("/nonexistent/anvil/x.txt");
  EXPECT_FALSE(m.ok());
  auto d = MappedFile::open("/tmp");
  EXPECT_FALSE(d.ok());
}

TEST(File, MapsEmptyFile) {
  const std::string p = temp_path("empty.bin");
  ASSERT_TRUE(write_file_atomic(p, "").ok());
  auto m = MappedFile::open(p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 0u);
}

}  // namespace
}  // namespace anvil
