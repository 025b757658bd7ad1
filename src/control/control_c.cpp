// The C API of control.h over control.hpp. No exception or C++ type crosses it.
#include <hotpatch/control.h>
#include <hotpatch/control.hpp>

#include <string>

namespace {

thread_local std::string t_last_error;
thread_local std::string t_path;

int finish(const hotpatch::Status& s) {
  if (s) {
    t_last_error.clear();
    return 0;
  }
  t_last_error = s.error().what();
  return static_cast<int>(s.error().code);
}

template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    t_last_error = std::string("internal error: ") + e.what();
  } catch (...) {
    t_last_error = "internal error";
  }
  return static_cast<int>(hotpatch::ErrorCode::internal);
}

}  // namespace

extern "C" {

int hotpatch_enable_control(const char* socket_dir) {
  return guarded([&] {
    hotpatch::ControlOptions o;
    if (socket_dir != nullptr) o.socket_dir = socket_dir;
    return finish(hotpatch::enable_control(o));
  });
}

int hotpatch_enable_control_from_environment(void) {
  return guarded([&] {
    auto o = hotpatch::control_options_from_environment();
    if (!o) return finish(o.error());
    return finish(hotpatch::enable_control(*o));
  });
}

void hotpatch_disable_control(void) { hotpatch::disable_control(); }

const char* hotpatch_control_socket_path(void) {
  try {
    t_path = hotpatch::control_socket_path();
  } catch (...) {
    t_path.clear();
  }
  return t_path.c_str();
}

const char* hotpatch_control_last_error(void) { return t_last_error.c_str(); }

}  // extern "C"
