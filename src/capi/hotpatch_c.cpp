// The C API (hotpatch.h) over the C++ one. No exception or C++ type crosses it.
#include <hotpatch/hotpatch.h>
#include <hotpatch/runtime.hpp>

#include "capi/c_status.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace {

thread_local std::vector<hotpatch::PatchedFunction> t_rows;

hotpatch_status as_status(int code) { return static_cast<hotpatch_status>(code); }

}  // namespace

extern "C" {

hotpatch_status hotpatch_apply(const char* path) {
  return as_status(hotpatch::capi::guarded([&] {
    if (path == nullptr) return hotpatch::capi::finish(hotpatch::make_error(hotpatch::ErrorCode::invalid_argument, "path", "is NULL"));
    auto r = hotpatch::apply_patch_file(path);
    return hotpatch::capi::finish(r ? hotpatch::Status{} : hotpatch::Status{r.error()});
  }));
}

hotpatch_status hotpatch_revert(const char* patch_id) {
  return as_status(hotpatch::capi::guarded([&] {
    if (patch_id == nullptr) return hotpatch::capi::finish(hotpatch::make_error(hotpatch::ErrorCode::invalid_argument, "patch_id", "is NULL"));
    return hotpatch::capi::finish(hotpatch::revert_patch(patch_id));
  }));
}

const char* hotpatch_last_error(void) { return hotpatch::capi::last_error().c_str(); }

const char* hotpatch_status_name(hotpatch_status status) {
  return hotpatch::error_code_name(static_cast<hotpatch::ErrorCode>(status));
}

size_t hotpatch_table(hotpatch_function* out, size_t capacity) {
  try {
    t_rows = hotpatch::patch_table();
  } catch (...) {
    t_rows.clear();
  }
  for (size_t i = 0; i < t_rows.size() && i < capacity && out != nullptr; ++i) {
    const auto& r = t_rows[i];
    out[i].symbol = r.symbol.c_str();
    out[i].module = r.module.c_str();
    out[i].address = r.address;
    out[i].version = r.version;
    out[i].patch_id = r.patch_id.c_str();
    out[i].vtable_slot = r.method == hotpatch::RedirectMethod::vtable_slot ? 1 : 0;
    out[i].since_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(r.since.time_since_epoch()).count();
  }
  return t_rows.size();
}

}  // extern "C"
