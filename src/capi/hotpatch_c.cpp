// The C API (hotpatch.h) over the C++ one. No exception or C++ type crosses it.
#include <hotpatch/hotpatch.h>
#include <hotpatch/runtime.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

thread_local std::string t_last_error;
thread_local std::vector<hotpatch::PatchedFunction> t_rows;

hotpatch_status finish(const hotpatch::Status& s) {
  if (s) {
    t_last_error.clear();
    return HOTPATCH_OK;
  }
  t_last_error = s.error().what();
  return static_cast<hotpatch_status>(s.error().code);
}

template <class F>
hotpatch_status guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    t_last_error = std::string("internal error: ") + e.what();
  } catch (...) {
    t_last_error = "internal error";
  }
  return HOTPATCH_E_INTERNAL;
}

}  // namespace

extern "C" {

hotpatch_status hotpatch_apply(const char* path) {
  return guarded([&] {
    if (path == nullptr) return finish(hotpatch::make_error(hotpatch::ErrorCode::invalid_argument, "path", "is NULL"));
    auto r = hotpatch::apply_patch_file(path);
    return finish(r ? hotpatch::Status{} : hotpatch::Status{r.error()});
  });
}

hotpatch_status hotpatch_revert(const char* patch_id) {
  return guarded([&] {
    if (patch_id == nullptr) return finish(hotpatch::make_error(hotpatch::ErrorCode::invalid_argument, "patch_id", "is NULL"));
    return finish(hotpatch::revert_patch(patch_id));
  });
}

const char* hotpatch_last_error(void) { return t_last_error.c_str(); }

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
