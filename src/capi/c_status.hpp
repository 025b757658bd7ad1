// What every C entry point does with a Status: the code as an int, the message kept per thread
// for hotpatch_last_error() / hotpatch_control_last_error(), and no exception past the boundary.
#pragma once

#include <hotpatch/error.hpp>

#include <exception>
#include <string>

namespace hotpatch::capi {

inline std::string& last_error() {
  thread_local std::string message;
  return message;
}

inline int finish(const Status& s) {
  if (s) {
    last_error().clear();
    return 0;
  }
  last_error() = s.error().what();
  return static_cast<int>(s.error().code);
}

template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    last_error() = std::string("internal error: ") + e.what();
  } catch (...) {
    last_error() = "internal error";
  }
  return static_cast<int>(ErrorCode::internal);
}

}  // namespace hotpatch::capi
