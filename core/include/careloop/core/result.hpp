#pragma once
// Result<T>: the value of an operation that is expected to fail sometimes
// (bad input, not found, conflict). Exceptions are kept for what ends a request.
#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace careloop::core {

enum class Errc {
  invalid,      // input broke a rule; see field errors
  not_found,
  conflict,     // unique key taken, state does not allow it
  forbidden,
  unavailable,  // store closed, shutting down
  internal,     // a bug or an I/O failure (SQLite error, disk full)
};

// One problem with one field of the input, named by JSON pointer (RFC 6901).
struct FieldError {
  std::string pointer;
  std::string detail;
};

struct Error {
  Errc code = Errc::internal;
  std::string message;
  std::vector<FieldError> fields;

  static Error invalid(std::string msg, std::vector<FieldError> f = {}) { return {Errc::invalid, std::move(msg), std::move(f)}; }
  static Error not_found(std::string msg) { return {Errc::not_found, std::move(msg), {}}; }
  static Error conflict(std::string msg, std::vector<FieldError> f = {}) { return {Errc::conflict, std::move(msg), std::move(f)}; }
  static Error forbidden(std::string msg) { return {Errc::forbidden, std::move(msg), {}}; }
  static Error unavailable(std::string msg) { return {Errc::unavailable, std::move(msg), {}}; }
  static Error internal(std::string msg) { return {Errc::internal, std::move(msg), {}}; }
};

// Thrown where a failure cannot be returned (reads that return plain values,
// hooks inside a transaction): the store's StoreError is one. The server turns
// it into the status of its code (unavailable: 503 with Retry-After), and
// background jobs retry or drop by it (core::Debouncer).
class Failure : public std::runtime_error {
 public:
  Failure(Errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(implicit)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};  // the value of a Result that carries only success or failure
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace careloop::core
