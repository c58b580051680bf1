// File helpers every layer shares: whole-file read, atomic write (temp file, fsync, rename — a kill
// at any moment leaves either the old or the new file, never a torn one), and read-only mmap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "anvil/base/status.h"

namespace anvil {

Result<std::string> read_file(const std::string& path);

// Writes `data` to `path` atomically: `path.tmp.<pid>`, fsync, rename, fsync of the directory.
Status write_file_atomic(const std::string& path, std::string_view data);

// Streams pieces into a temp file and renames it into place on commit(); a writer destroyed
// without commit() removes its temp file, so a failed write leaves the previous file untouched.
class AtomicFileWriter {
 public:
  AtomicFileWriter() = default;
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status open(const std::string& path);
  Status write(const void* data, size_t n);
  Status commit();

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
};

// A read-only memory map of a whole file. Movable, not copyable; unmaps on destruction.
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static Result<MappedFile> open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace anvil
