// Tensor: a typed, strided view onto reference-counted storage (owned 64-byte-aligned memory, or
// memory kept alive by someone else, e.g. an mmap'd safetensors file). Views (slice, transpose,
// reshape of contiguous data) share storage; clone()/contiguous() copy.
// Shapes have at most kMaxDims dimensions; strides are in elements, row-major by default.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "anvil/base/check.h"
#include "anvil/core/dtype.h"

namespace anvil {

inline constexpr int kMaxDims = 8;
inline constexpr size_t kStorageAlignment = 64;

// A small fixed-capacity list of dimension sizes (or strides).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return d_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return d_[static_cast<size_t>(i)]; }
  int64_t numel() const;
  std::vector<int64_t> to_vector() const { return {d_.begin(), d_.begin() + rank_}; }
  std::string to_string() const;  // "[2, 3, 4]"
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<int64_t, kMaxDims> d_{};
  int rank_ = 0;
};

// Bytes a tensor points into. Owned (aligned heap) or external (kept alive by `keeper`).
class Storage {
 public:
  // Zero-filled. From kMapBytes up, the zeros come from the OS (an anonymous mapping), so pages nothing
  // writes cost neither time nor memory: a loaded model's gradient buffer stays free until training.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  static std::shared_ptr<Storage> external(void* data, size_t nbytes, std::shared_ptr<const void> keeper);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  uint8_t* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  Storage() = default;
  static constexpr size_t kMapBytes = size_t{1} << 20;
  uint8_t* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t mapped_bytes_ = 0;  // > 0: data_ is an anonymous mapping of this many bytes
  bool owned_ = false;
  std::shared_ptr<const void> keeper_;
};

class Tensor {
 public:
  Tensor() = default;  // an empty, undefined tensor (defined() == false)

  static Tensor empty(const Shape& shape, DType dtype = DType::kF32);  // zero-filled
  static Tensor zeros(const Shape& shape, DType dtype = DType::kF32) { return empty(shape, dtype); }
  static Tensor full(const Shape& shape, float value);  // f32
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  // Wraps external contiguous memory; `keeper` keeps it alive as long as any view exists.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, std::shared_ptr<const void> keeper = nullptr);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return shape_.rank(); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t stride(int dim) const;
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* raw_data() const { return storage_ ? storage_->data() + offset_ : nullptr; }
  template <typename T>
  T* data() const {
    ANVIL_DCHECK(dtype_of<T>() == dtype_, "tensor is {}, asked for {}", dtype_name(dtype_), dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }
  template <typename T>
  T& at(std::initializer_list<int64_t> idx) const;

  // Views (share storage).
  Tensor reshape(const Shape& shape) const;  // requires contiguous; one dim may be -1
  Tensor slice(int dim, int64_t start, int64_t end) const;
  Tensor select(int dim, int64_t index) const;  // drops `dim`
  Tensor transpose(int d0, int d1) const;

  // Copies.
  Tensor contiguous() const;  // this if already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;
  void copy_from(const Tensor& src);  // same shape; converts dtype
  void fill(float value);             // f32/bf16/f16 tensors

  std::shared_ptr<Storage> storage() const { return storage_; }
  std::string describe() const;  // "F32[2, 3]", or "F32[3, 2] (strided)" for a non-contiguous view

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_, strides_;
  DType dtype_ = DType::kF32;
};

template <typename T>
T& Tensor::at(std::initializer_list<int64_t> idx) const {
  ANVIL_DCHECK(static_cast<int>(idx.size()) == rank(), "index rank {} != tensor rank {}", idx.size(), rank());
  int64_t off = 0;
  int i = 0;
  for (int64_t v : idx) off += v * strides_[i++];
  return data<T>()[off];
}

}  // namespace anvil
