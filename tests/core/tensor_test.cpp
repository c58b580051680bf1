// Tensor, Shape and views: reshape (with -1), slice, select, transpose share storage and address
// the right elements; contiguous()/clone() of strided views copy in row-major order; copy_from
// converts dtypes through strided views; wrap() keeps external memory alive through its keeper.
#include "anvil/core/tensor.h"

#include <gtest/gtest.h>

#include <numeric>

namespace anvil {
namespace {

// [0, 1, ..., n-1] as f32 with the given shape.
Tensor iota(const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_vector(v, shape);
}

std::vector<float> values(const Tensor& t) {
  Tensor c = t.to(DType::kF32).contiguous();
  return {c.data<float>(), c.data<float>() + c.numel()};
}

TEST(Shape, BasicsAndPrinting) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.to_string(), "[2, 3, 4]");
  EXPECT_EQ(Shape{}.numel(), 1);  // a scalar
  EXPECT_EQ((Shape{2, 0, 5}.numel()), 0);
  EXPECT_EQ(Shape(std::vector<int64_t>{2, 3, 4}), s);
  EXPECT_NE((Shape{2, 3}), s);
}

TEST(Tensor, EmptyIsZeroFilledAndRowMajor) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::kBF16);
  EXPECT_EQ(t.nbytes(), 48u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides().to_vector(), (std::vector<int64_t>{12, 4, 1}));
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<bf16_t>()[i].bits, 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kStorageAlignment, 0u);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.describe(), "BF16[2, 3, 4]");
  EXPECT_FALSE(Tensor().defined());
}

// Storages from 1 MiB up come from an anonymous mapping: zero-filled too, aligned, writable end to end, and
// released when the last view goes (repeated 64 times over 48 MiB each, which would exhaust nothing but
// would show as a crash on a double unmap or a free of mapped memory).
TEST(Tensor, LargeEmptyIsZeroFilledAlignedAndReleased) {
  for (int round = 0; round < 64; ++round) {
    Tensor t = Tensor::empty({3, 4 << 20});  // 48 MiB
    float* p = t.data<float>();
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % kStorageAlignment, 0u);
    for (int64_t i = 0; i < t.numel(); i += 1021) ASSERT_EQ(p[i], 0.0f) << i;
    EXPECT_EQ(p[t.numel() - 1], 0.0f);
    p[0] = 1.0f, p[t.numel() - 1] = 2.0f;
    const Tensor view = t.slice(0, 2, 3);
    t = Tensor();
    EXPECT_EQ(view.data<float>()[view.numel() - 1], 2.0f);  // the view keeps the storage alive
  }
  const Tensor small = Tensor::empty({(1 << 18) - 1});  // just under 1 MiB: the heap path
  for (int64_t i = 0; i < small.numel(); i += 97) ASSERT_EQ(small.data<float>()[i], 0.0f);
}

TEST(Tensor, ReshapeInfersMinusOneAndSharesStorage) {
  Tensor t = iota({2, 3, 4});
  Tensor r = t.reshape({-1, 4});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  EXPECT_EQ((t.reshape({4, -1, 3}).shape()), (Shape{4, 2, 3}));
  EXPECT_EQ((t.reshape({-1}).shape()), (Shape{24}));
  r.at<float>({5, 3}) = 100.0f;
  EXPECT_EQ(t.at<float>({1, 2, 3}), 100.0f);
  Tensor z = Tensor::empty({0, 5});
  EXPECT_EQ((z.reshape({-1, 5}).shape()), (Shape{0, 5}));
}

TEST(Tensor, SliceSelectTransposeAddressTheRightElements) {
  Tensor t = iota({3, 4});  // t[i][j] = 4i + j
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(values(s), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  Tensor rows = t.slice(0, 1, 3);  // a row slice stays contiguous
  EXPECT_TRUE(rows.is_contiguous());
  EXPECT_EQ(values(rows), (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(values(t.select(0, 2)), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(values(t.select(1, 1)), (std::vector<float>{1, 5, 9}));
  EXPECT_EQ(t.select(0, 1).select(0, 2).rank(), 0);
  EXPECT_EQ(values(t.select(0, 1).select(0, 2)), (std::vector<float>{6}));
  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Shape{4, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.describe(), "F32[4, 3] (strided)");
  EXPECT_EQ(values(tt), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  // Views write through to the original.
  tt.at<float>({3, 0}) = -1.0f;
  EXPECT_EQ(t.at<float>({0, 3}), -1.0f);
  // Size-1 dims with odd strides still count as contiguous.
  EXPECT_TRUE(t.slice(0, 1, 2).is_contiguous());
}

TEST(Tensor, ContiguousAndCloneOfStridedViewsCopy) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.transpose(0, 2).slice(1, 1, 3);  // shape [4, 2, 2], strides [1, 4, 12]
  EXPECT_EQ(v.shape(), (Shape{4, 2, 2}));
  Tensor c = v.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.raw_data(), v.raw_data());
  std::vector<float> expect;
  for (int a = 0; a < 4; ++a)
    for (int b = 1; b < 3; ++b)
      for (int k = 0; k < 2; ++k) expect.push_back(static_cast<float>(k * 12 + b * 4 + a));
  EXPECT_EQ(std::vector<float>(c.data<float>(), c.data<float>() + c.numel()), expect);
  // clone() of a contiguous tensor is independent; contiguous() of one is the same storage.
  Tensor cl = t.clone();
  cl.at<float>({0, 0, 0}) = 42.0f;
  EXPECT_EQ(t.at<float>({0, 0, 0}), 0.0f);
  EXPECT_EQ(t.contiguous().raw_data(), t.raw_data());
}

TEST(Tensor, CopyFromConvertsDtypeThroughStridedViews) {
  Tensor t = iota({3, 5});
  Tensor dst = Tensor::empty({5, 3}, DType::kBF16);
  dst.copy_from(t.transpose(0, 1));
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(bf16_to_f32(dst.at<bf16_t>({i, j})), static_cast<float>(j * 5 + i));
  // Into a strided destination, with conversion to f16 and back.
  Tensor big = Tensor::empty({5, 6}, DType::kF16);
  Tensor window = big.slice(1, 2, 5);  // [5, 3], not contiguous
  window.copy_from(dst);
  EXPECT_EQ(values(window), values(t.transpose(0, 1)));
  EXPECT_EQ(f16_to_f32(big.at<f16_t>({0, 0})), 0.0f);  // outside the window: untouched
  // Integer targets.
  Tensor ints = t.to(DType::kI32);
  EXPECT_EQ(ints.at<int32_t>({2, 4}), 14);
  Tensor i64 = ints.transpose(0, 1).to(DType::kI64);
  EXPECT_EQ(i64.at<int64_t>({4, 2}), 14);
}

TEST(Tensor, FillAndFull) {
  Tensor f = Tensor::full({2, 2}, 1.5f);
  EXPECT_EQ(values(f), (std::vector<float>{1.5f, 1.5f, 1.5f, 1.5f}));
  Tensor h = Tensor::empty({3}, DType::kF16);
  h.fill(-2.0f);
  EXPECT_EQ(values(h), (std::vector<float>{-2, -2, -2}));
  Tensor i = Tensor::empty({2}, DType::kI8);
  i.fill(7.9f);
  EXPECT_EQ(i.data<int8_t>()[1], 7);
}

TEST(Tensor, WrapKeepsExternalMemoryAliveThroughViews) {
  auto released = std::make_shared<bool>(false);
  std::vector<float> buffer = {1, 2, 3, 4, 5, 6};
  Tensor view;
  {
    std::shared_ptr<const void> keeper(new int(0), [released](const void* p) {
      *released = true;
      delete static_cast<const int*>(p);
    });
    Tensor w = Tensor::wrap(buffer.data(), {2, 3}, DType::kF32, keeper);
    keeper.reset();
    EXPECT_EQ(w.raw_data(), buffer.data());
    view = w.transpose(0, 1).slice(0, 1, 3);
  }
  EXPECT_FALSE(*released);  // the view still holds the storage, which holds the keeper
  EXPECT_EQ(values(view), (std::vector<float>{2, 5, 3, 6}));
  view = Tensor();
  EXPECT_TRUE(*released);
}

}  // namespace
}  // namespace anvil
