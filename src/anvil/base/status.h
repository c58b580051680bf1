// Recoverable errors as values: Status (ok or code + message) and Result<T> (a value or a Status).
// Library code returns these for anything a user, a file or a request can cause; bugs use ANVIL_CHECK
// (check.h). Messages name the operation and the values: "[safetensors.load] 'x.st': header length
// 2^40 exceeds file size 1024". Pattern after sentencepiece util::Status and absl::StatusOr.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace anvil {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: a file, a field, a request, a flag
  kNotFound,         // a named file, key or tensor does not exist
  kIoError,          // the OS said no: open, read, write, rename, mmap
  kOutOfRange,       // a value outside what the format or the hardware allows
  kUnimplemented,    // a valid request for something this build does not do
  kInternal,         // an invariant broke on an input path we could not rule out earlier
  kCancelled,        // stopped by a signal or a client
  kResourceExhausted,  // a bounded queue or memory is full now; retry later (HTTP 429)
  kUnavailable,        // shutting down or not ready (HTTP 503)
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: [safetensors.load] ..." — for logs and CLI output.
  std::string to_string() const;

  // Prefixes context: status.with_context("loading run dir 'r1'").
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }

template <typename... Args>
Status invalid_argument(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status not_found(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kNotFound, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status io_error(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kIoError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status out_of_range(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kOutOfRange, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status unimplemented(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnimplemented, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status resource_exhausted(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kResourceExhausted, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status unavailable(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnavailable, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status internal_error(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInternal, fmt::format(f, std::forward<Args>(args)...));
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace anvil

#define ANVIL_CONCAT_INNER_(a, b) a##b
#define ANVIL_CONCAT_(a, b) ANVIL_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not ok.
#define ANVIL_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::anvil::Status anvil_status_ = (expr);          \
    if (!anvil_status_.ok()) return anvil_status_;   \
  } while (0)

// ANVIL_ASSIGN_OR_RETURN(auto x, make_x()); — declares x from a Result, or returns its Status.
#define ANVIL_ASSIGN_OR_RETURN(lhs, expr) \
  ANVIL_ASSIGN_OR_RETURN_IMPL_(ANVIL_CONCAT_(anvil_result_, __LINE__), lhs, expr)
#define ANVIL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
