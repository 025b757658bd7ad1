// Errors are values in hotpatch: every fallible call returns Result<T>, never throws across the
// library boundary. This header is usable from C++20 (std::expected needs C++23, so Result is ours).
#pragma once

#include <hotpatch/export.h>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace hotpatch {

/// What went wrong, as a stable code. The C API exposes the same values (hotpatch.h).
enum class ErrorCode : int {
  ok = 0,
  invalid_argument = 1,   ///< the caller passed something unusable (empty path, bad option)
  io = 2,                 ///< a file could not be opened or read
  malformed_patch = 3,    ///< the patch object is not a valid hotpatch patch
  wrong_build = 4,        ///< the patch targets a build that is not loaded in this process
  symbol_not_found = 5,   ///< a target or imported symbol does not exist
  ambiguous_symbol = 6,   ///< a name matches more than one symbol
  not_patchable = 7,      ///< the function cannot safely take a jump (too short, branch into entry...)
  version_not_newer = 8,  ///< the patch's version is not higher than what is applied
  write_denied = 9,       ///< the kernel or a security policy refused writing code
  threads_unresponsive = 10,  ///< a thread did not answer the safety check in time
  load_failed = 11,       ///< dlopen/dlsym of the patch failed
  not_applied = 12,       ///< revert of a patch that is not applied
  already_applied = 13,   ///< the same patch id is already applied
  internal = 14,          ///< an invariant broke; the message says which
  signature = 15,         ///< a signature is missing, malformed or does not verify
  untrusted_key = 16,     ///< signed by a key that is not pinned
  rollback = 17,          ///< registry index older than the last one seen, or equivocating
  expired = 18,           ///< registry index past its expiry (freeze attack or stale registry)
  integrity = 19,         ///< a hash or size does not match its signed value
  too_large = 20,         ///< a response or file exceeds its cap
  network = 21,           ///< a fetch failed (unreachable, timeout, HTTP error)
  parse = 22,             ///< malformed JSON, key file or signature text
  protocol = 23,          ///< control endpoint protocol violation
  permission = 24,        ///< peer credentials or file permissions refused
  unsafe_threads = 25,    ///< a thread could be killed or hurt by the write and cannot be stopped for it
  function_in_use = 26,   ///< the stack check found a thread inside a function the patch replaces, until the deadline
};

/// Short stable name of a code, e.g. "write_denied".
HOTPATCH_API const char* error_code_name(ErrorCode code) noexcept;

/// An error: a code, the thing it concerns (symbol, path, pid...) and a sentence for a human.
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string subject;
  std::string message;

  /// "subject: message" (or the message alone when there is no subject).
  std::string what() const {
    return subject.empty() ? message : subject + ": " + message;
  }
};

inline Error make_error(ErrorCode code, std::string subject, std::string message) {
  return Error{code, std::move(subject), std::move(message)};
}

/// Either a T or an Error. Deliberately small: has_value/value/error and pointer-like access.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {}
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace hotpatch

/// Declares `var` from an expression returning Result<T>, or returns its error from the caller.
#define HOTPATCH_LET(var, expr)                                   \
  auto var##_result_ = (expr);                                    \
  if (!var##_result_) return var##_result_.error();               \
  auto var = std::move(*var##_result_)

/// Returns the error of an expression returning Result<...> from the caller.
#define HOTPATCH_TRY(expr)                                        \
  do {                                                            \
    auto hotpatch_try_status_ = (expr);                           \
    if (!hotpatch_try_status_) return hotpatch_try_status_.error(); \
  } while (0)
