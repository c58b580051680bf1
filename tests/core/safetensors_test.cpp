// safetensors: byte-exact writer (golden files from huggingface/safetensors' own tests), round trips
// of every dtype, zero-copy reads, and one malformed file per validation rule, each checked for a
// clear error that names the file, the tensor or field, and the values.
#include "anvil/core/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "safetensors_test_util.h"

namespace anvil {
namespace {

using test::bytes_of;
using test::make_file;
using test::parse_error;

// huggingface/safetensors safetensors/src/tensor.rs, tests test_serialization, test_empty and
// test_serialization_forced_alignement: the exact bytes the reference writer produces.
TEST(Safetensors, WriterMatchesReferenceGoldenBytes) {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {1, 2, 3});
  const std::string header1 = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header1.size(), 64u);  // already a multiple of 8: no padding
  auto out = serialize_safetensors({{"attn.0", t}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(*out, make_file(header1, bytes_of(t)));

  auto empty = serialize_safetensors({});
  EXPECT_EQ(*empty, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  auto meta = serialize_safetensors({}, {{"framework", "pt"}});
  EXPECT_EQ(*meta, make_file(R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '), ""));

  auto forced = serialize_safetensors({{"attn0", t.reshape({1, 1, 2, 3})}});
  const std::string header2 = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(*forced, make_file(header2 + std::string(7, ' '), bytes_of(t)));
}

TEST(Safetensors, WriterOrdersByDtypeDescendingThenName) {
  NamedTensors ts = {{"b", Tensor::empty({2}, DType::kI8)},  {"a", Tensor::empty({2}, DType::kF16)},
                     {"z", Tensor::empty({1}, DType::kF32)}, {"y", Tensor::empty({1}, DType::kI32)},
                     {"c", Tensor::empty({3}, DType::kBF16)}, {"d", Tensor::empty({1}, DType::kI64)},
                     {"e", Tensor::empty({1}, DType::kF32)}};
  auto bytes = serialize_safetensors(ts);
  ASSERT_TRUE(bytes.ok());
  auto f = SafetensorsFile::parse(test::span_of(*bytes));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->names(), (std::vector<std::string>{"d", "e", "z", "y", "c", "a", "b"}));
  for (const SafetensorsEntry& e : f->entries())
    EXPECT_EQ(e.begin % dtype_size(*e.dtype), 0u) << e.name;  // every tensor aligned for its dtype
  EXPECT_EQ((8 + f->header_bytes()) % 8, 0u);
}

TEST(Safetensors, RoundTripsEveryDtypeScalarsEmptyAndMetadata) {
  const std::string path = test::temp_path("roundtrip.safetensors");
  Tensor w = Tensor::from_vector({1.5f, -2.25f, 3.0f, 1e-8f, 65504.0f, -0.0f}, {2, 3});
  NamedTensors ts = {{"w.f32", w},
                     {"w.bf16", w.to(DType::kBF16)},
                     {"w.f16", w.to(DType::kF16)},
                     {"w.i8", w.to(DType::kI8)},
                     {"w.i32", w.to(DType::kI32)},
                     {"w.i64", w.to(DType::kI64)},
                     {"scalar", Tensor::full({}, 7.0f)},
                     {"empty", Tensor::empty({0, 4}, DType::kBF16)},
                     {"wt", w.transpose(0, 1)}};  // non-contiguous: written row-major
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "quote \" backslash \\ \n tab\t é"}};
  ASSERT_TRUE(save_safetensors(path, ts, meta).ok());
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->metadata(), meta);
  EXPECT_EQ(f->entries().size(), ts.size());
  for (const auto& [name, t] : ts) {
    auto g = f->get(name);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(g->dtype(), t.dtype()) << name;
    EXPECT_EQ(g->shape(), t.shape()) << name;
    EXPECT_EQ(bytes_of(*g), bytes_of(t)) << name;
  }
  EXPECT_EQ(f->get("scalar")->rank(), 0);
  // Zero-copy: the tensor points into the mapping and outlives the SafetensorsFile.
  Tensor kept = *f->get("w.f32");
  EXPECT_EQ(kept.storage()->nbytes(), 24u);
  f = Status(StatusCode::kCancelled, "drop the file object");
  EXPECT_EQ(kept.at<float>({1, 1}), 65504.0f);
  std::filesystem::remove(path);
}

TEST(Safetensors, GetErrors) {
  // A valid file with an F64 tensor (a dtype anvil does not load) and a rank-9 tensor.
  const std::string header = R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
                             R"("r":{"dtype":"I8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[16,17]}})";
  const std::string file = make_file(header, std::string(17, '\0'));
  auto f = SafetensorsFile::parse(test::span_of(file), "x.st");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->find("x")->dtype_name, "F64");
  auto g = f->get("x");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(g.status().message().find("'x.st': unsupported dtype 'F64' for tensor 'x'"), std::string::npos)
      << g.status().message();
  auto missing = f->get("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no tensor 'nope'"), std::string::npos);
  EXPECT_NE(f->get("r").status().message().find("rank 9"), std::string::npos);
  auto nofile = SafetensorsFile::open("/nonexistent/dir/m.safetensors");
  EXPECT_NE(nofile.status().message().find("/nonexistent/dir/m.safetensors"), std::string::npos);
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  // An 'I8' tensor of 1 byte first puts the F32 tensor at an odd offset (a non-anvil writer).
  const std::string header = R"({"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  const float v = 3.25f;
  std::string data(1, '\x05');
  data.append(reinterpret_cast<const char*>(&v), 4);
  std::string padded_header = header + std::string((8 - header.size() % 8) % 8, ' ');
  const std::string file = make_file(padded_header, data);
  std::vector<uint64_t> aligned((file.size() + 7) / 8);
  std::memcpy(aligned.data(), file.data(), file.size());
  auto f = SafetensorsFile::parse({reinterpret_cast<const uint8_t*>(aligned.data()), file.size()});
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  Tensor b = *f->get("b");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 4, 0u);
  EXPECT_EQ(b.data<float>()[0], 3.25f);
}

TEST(Safetensors, WriterRejectsBadInput) {
  Tensor t = Tensor::empty({1});
  EXPECT_NE(serialize_safetensors({{"a", t}, {"a", t}}).status().message().find("'a' appears twice"),
            std::string::npos);
  EXPECT_FALSE(serialize_safetensors({{"__metadata__", t}}).ok());
  EXPECT_FALSE(serialize_safetensors({{"x", Tensor()}}).ok());
  EXPECT_NE(serialize_safetensors({{std::string("bad\xff"), t}}).status().message().find("not valid UTF-8"),
            std::string::npos);
  auto s = save_safetensors("/nonexistent/dir/out.safetensors", {{"a", t}});
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

// ---- malformed files: one per validation rule ------------------------------------------------

TEST(SafetensorsMalformed, HeaderLength) {
  EXPECT_NE(parse_error(std::string(5, '\0')).find("5 bytes, shorter than the 8-byte header length"),
            std::string::npos);
  std::string huge(16, ' ');
  const uint64_t n63 = uint64_t{1} << 63;
  std::memcpy(huge.data(), &n63, 8);
  EXPECT_NE(parse_error(huge).find("header length 9223372036854775808 exceeds the limit 100000000"),
            std::string::npos);
  const uint64_t over = kSafetensorsMaxHeaderBytes + 1;
  std::memcpy(huge.data(), &over, 8);
  EXPECT_NE(parse_error(huge).find("exceeds the limit"), std::string::npos);
  const uint64_t past = 100;
  std::memcpy(huge.data(), &past, 8);
  EXPECT_NE(parse_error(huge).find("header length 100 needs 108 bytes, file has 16"), std::string::npos);
  // Exactly at the limit is allowed by the length check (then fails only for lack of bytes).
  std::memcpy(huge.data(), &kSafetensorsMaxHeaderBytes, 8);
  EXPECT_NE(parse_error(huge).find("needs 100000008 bytes"), std::string::npos);
}

TEST(SafetensorsMalformed, JsonShapeOfTheHeader) {
  EXPECT_NE(parse_error(make_file("{\"a\":", "")).find("is not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(make_file("[1, 2]  ", "")).find("header is array, expected a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(make_file("{\"a\":\"\xff\"}", "")).find("not valid JSON"), std::string::npos);  // bad UTF-8
  EXPECT_NE(parse_error(make_file(R"({"a":{"dtype":"I8","shape":[],"data_offsets":[0,1]},)"
                                  R"("a":{"dtype":"I8","shape":[],"data_offsets":[1,2]}})",
                                  "xx"))
                .find("duplicate key 'a'"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"__metadata__":{"k":1}})", "")).find("value for key 'k' is number"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"__metadata__":[]})", "")).find("'__metadata__' is array"), std::string::npos);
  EXPECT_NE(parse_error(make_file(R"({"t":5})", "")).find("tensor 't': entry is number, expected an object"),
            std::string::npos);
}

TEST(SafetensorsMalformed, TensorFields) {
  auto err = [](const std::string& entry, size_t n_data = 4) {
    return parse_error(make_file("{\"w\":" + entry + "}", std::string(n_data, '\0')), "m.st");
  };
  EXPECT_NE(err(R"({"shape":[1],"data_offsets":[0,4]})").find("'m.st': tensor 'w': missing field 'dtype'"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","data_offsets":[0,4]})").find("missing field 'shape'"), std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[1]})").find("missing field 'data_offsets'"), std::string::npos);
  EXPECT_NE(err(R"({"dtype":32,"shape":[1],"data_offsets":[0,4]})").find("field 'dtype' is number"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F128","shape":[1],"data_offsets":[0,4]})").find("unknown dtype 'F128'"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":{},"data_offsets":[0,4]})").find("field 'shape' is object"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})").find("shape[0] is -1"), std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})").find("shape[0] is 1.0"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})").find("shape[0] is \"1\""),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})").find("overflows"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})").find("overflows"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})").find("expected [begin, end]"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[1],"data_offsets":[0,-4]})").find("data_offsets[1] is -4"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})").find("data_offsets [4, 0) end before"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})")
                .find("data_offsets [0, 4) hold 4 bytes, F32[2] needs 8"),
            std::string::npos);
  EXPECT_NE(err(R"({"dtype":"F4","shape":[3],"data_offsets":[0,1]})").find("not a whole number of bytes"),
            std::string::npos);
}

TEST(SafetensorsMalformed, OffsetsTiling) {
  const auto entry = [](const char* name, uint64_t b, uint64_t e) {
    return fmt::format(R"("{}":{{"dtype":"I8","shape":[{}],"data_offsets":[{},{}]}})", name, e - b, b, e);
  };
  // Out of range: the example message of the project's error standard.
  EXPECT_NE(parse_error(make_file("{" + entry("w", 0, 96) + "}", std::string(64, '\0')), "x.st")
                .find("'x.st': data_offsets [0, 96) of 'w' need 96 bytes, buffer has 64"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file("{" + entry("a", 0, 8) + "," + entry("b", 4, 12) + "}", std::string(12, '\0')))
                .find("data_offsets [4, 12) of 'b' overlap 'a' which ends at 8"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file("{" + entry("a", 0, 4) + "," + entry("b", 6, 8) + "}", std::string(8, '\0')))
                .find("bytes [4, 6) of the data buffer belong to no tensor (gap before 'b')"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file("{" + entry("a", 2, 4) + "}", std::string(4, '\0')))
                .find("bytes [0, 2) of the data buffer belong to no tensor"),
            std::string::npos);
  EXPECT_NE(parse_error(make_file("{" + entry("a", 0, 4) + "}", std::string(7, '\0')))
                .find("3 trailing bytes: tensors cover 4 bytes"),
            std::string::npos);
  // Order in the JSON does not matter; zero-size tensors may sit anywhere on the tiling.
  auto ok = SafetensorsFile::parse(test::span_of(make_file(
      "{" + entry("b", 4, 8) + "," + entry("z", 4, 4) + "," + entry("a", 0, 4) + "}", std::string(8, '\0'))));
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->names(), (std::vector<std::string>{"a", "z", "b"}));
}

TEST(SafetensorsMalformed, EveryTruncationOfAValidFileFails) {
  NamedTensors ts = {{"w", Tensor::full({3, 2}, 0.5f)}, {"b", Tensor::full({2}, 1.0f).to(DType::kBF16)}};
  auto full = serialize_safetensors(ts, {{"k", "v"}});
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(SafetensorsFile::parse(test::span_of(*full)).ok());
  for (size_t len = 0; len < full->size(); ++len) {
    const std::string prefix = full->substr(0, len);
    const std::string msg = parse_error(prefix, "cut.st");
    EXPECT_EQ(msg.rfind("[safetensors.load] 'cut.st': ", 0), 0u) << "prefix " << len << ": " << msg;
  }
  // And one extra byte is "trailing bytes".
  EXPECT_NE(parse_error(*full + "x").find("1 trailing bytes"), std::string::npos);
}

}  // namespace
}  // namespace anvil
