// The C API of control.h over control.hpp. No exception or C++ type crosses it.
#include <hotpatch/control.h>
#include <hotpatch/control.hpp>

#include "capi/c_status.hpp"

#include <string>

namespace {

thread_local std::string t_path;

using hotpatch::capi::finish;
using hotpatch::capi::guarded;

}  // namespace

extern "C" {

int hotpatch_enable_control(const char* socket_dir) {
  return guarded([&] {
    hotpatch::ControlOptions o;
    if (socket_dir != nullptr) o.socket_dir = socket_dir;
    return finish(hotpatch::enable_control(o));
  });
}

int hotpatch_enable_control_pinned(const char* socket_dir, const char* trusted_keys, int allow_unsigned) {
  return guarded([&] {
    hotpatch::ControlOptions o;
    if (socket_dir != nullptr) o.socket_dir = socket_dir;
    if (trusted_keys != nullptr && *trusted_keys != '\0') {
      auto keys = hotpatch::load_trusted_keys(trusted_keys, "trusted_keys");
      if (!keys) return finish(keys.error());
      o.trusted_keys = std::move(*keys);
    }
    o.allow_unsigned = allow_unsigned != 0;
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

const char* hotpatch_control_last_error(void) { return hotpatch::capi::last_error().c_str(); }

}  // extern "C"
