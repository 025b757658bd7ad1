// The C API (hotpatch.h) over the C++ one. No exception or C++ type crosses it.
#include <hotpatch/hotpatch.h>
#include <hotpatch/runtime.hpp>

#include "capi/c_status.hpp"

#include <chrono>
#include <string>
#include <vector>

// The C enum mirrors every ErrorCode: a function returning one must never give C an unnamed value.
static_assert(static_cast<int>(hotpatch::ErrorCode::ok) == HOTPATCH_OK);
static_assert(static_cast<int>(hotpatch::ErrorCode::invalid_argument) == HOTPATCH_E_INVALID_ARGUMENT);
static_assert(static_cast<int>(hotpatch::ErrorCode::io) == HOTPATCH_E_IO);
static_assert(static_cast<int>(hotpatch::ErrorCode::malformed_patch) == HOTPATCH_E_MALFORMED_PATCH);
static_assert(static_cast<int>(hotpatch::ErrorCode::wrong_build) == HOTPATCH_E_WRONG_BUILD);
static_assert(static_cast<int>(hotpatch::ErrorCode::symbol_not_found) == HOTPATCH_E_SYMBOL_NOT_FOUND);
static_assert(static_cast<int>(hotpatch::ErrorCode::ambiguous_symbol) == HOTPATCH_E_AMBIGUOUS_SYMBOL);
static_assert(static_cast<int>(hotpatch::ErrorCode::not_patchable) == HOTPATCH_E_NOT_PATCHABLE);
static_assert(static_cast<int>(hotpatch::ErrorCode::version_not_newer) == HOTPATCH_E_VERSION_NOT_NEWER);
static_assert(static_cast<int>(hotpatch::ErrorCode::write_denied) == HOTPATCH_E_WRITE_DENIED);
static_assert(static_cast<int>(hotpatch::ErrorCode::threads_unresponsive) == HOTPATCH_E_THREADS_UNRESPONSIVE);
static_assert(static_cast<int>(hotpatch::ErrorCode::load_failed) == HOTPATCH_E_LOAD_FAILED);
static_assert(static_cast<int>(hotpatch::ErrorCode::not_applied) == HOTPATCH_E_NOT_APPLIED);
static_assert(static_cast<int>(hotpatch::ErrorCode::already_applied) == HOTPATCH_E_ALREADY_APPLIED);
static_assert(static_cast<int>(hotpatch::ErrorCode::internal) == HOTPATCH_E_INTERNAL);
static_assert(static_cast<int>(hotpatch::ErrorCode::signature) == HOTPATCH_E_SIGNATURE);
static_assert(static_cast<int>(hotpatch::ErrorCode::untrusted_key) == HOTPATCH_E_UNTRUSTED_KEY);
static_assert(static_cast<int>(hotpatch::ErrorCode::rollback) == HOTPATCH_E_ROLLBACK);
static_assert(static_cast<int>(hotpatch::ErrorCode::expired) == HOTPATCH_E_EXPIRED);
static_assert(static_cast<int>(hotpatch::ErrorCode::integrity) == HOTPATCH_E_INTEGRITY);
static_assert(static_cast<int>(hotpatch::ErrorCode::too_large) == HOTPATCH_E_TOO_LARGE);
static_assert(static_cast<int>(hotpatch::ErrorCode::network) == HOTPATCH_E_NETWORK);
static_assert(static_cast<int>(hotpatch::ErrorCode::parse) == HOTPATCH_E_PARSE);
static_assert(static_cast<int>(hotpatch::ErrorCode::protocol) == HOTPATCH_E_PROTOCOL);
static_assert(static_cast<int>(hotpatch::ErrorCode::permission) == HOTPATCH_E_PERMISSION);
static_assert(static_cast<int>(hotpatch::ErrorCode::unsafe_threads) == HOTPATCH_E_UNSAFE_THREADS);
static_assert(static_cast<int>(hotpatch::ErrorCode::function_in_use) == HOTPATCH_E_FUNCTION_IN_USE);

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
