/* hotpatch C API: apply and revert patches from C (C99 and later). Thread-safe. Errors are codes;
 * hotpatch_last_error() gives this thread's last message ("what: why"). */
#ifndef HOTPATCH_HOTPATCH_H
#define HOTPATCH_HOTPATCH_H

#include <stddef.h>
#include <stdint.h>

#include <hotpatch/export.h>

#ifdef __cplusplus
extern "C" {
#endif


/* Same values as hotpatch::ErrorCode. */
typedef enum hotpatch_status {
  HOTPATCH_OK = 0,
  HOTPATCH_E_INVALID_ARGUMENT = 1,
  HOTPATCH_E_IO = 2,
  HOTPATCH_E_MALFORMED_PATCH = 3,
  HOTPATCH_E_WRONG_BUILD = 4,
  HOTPATCH_E_SYMBOL_NOT_FOUND = 5,
  HOTPATCH_E_AMBIGUOUS_SYMBOL = 6,
  HOTPATCH_E_NOT_PATCHABLE = 7,
  HOTPATCH_E_VERSION_NOT_NEWER = 8,
  HOTPATCH_E_WRITE_DENIED = 9,
  HOTPATCH_E_THREADS_UNRESPONSIVE = 10,
  HOTPATCH_E_LOAD_FAILED = 11,
  HOTPATCH_E_NOT_APPLIED = 12,
  HOTPATCH_E_ALREADY_APPLIED = 13,
  HOTPATCH_E_INTERNAL = 14,
  HOTPATCH_E_SIGNATURE = 15,
  HOTPATCH_E_UNTRUSTED_KEY = 16,
  HOTPATCH_E_ROLLBACK = 17,
  HOTPATCH_E_EXPIRED = 18,
  HOTPATCH_E_INTEGRITY = 19,
  HOTPATCH_E_TOO_LARGE = 20,
  HOTPATCH_E_NETWORK = 21,
  HOTPATCH_E_PARSE = 22,
  HOTPATCH_E_PROTOCOL = 23,
  HOTPATCH_E_PERMISSION = 24,
  HOTPATCH_E_UNSAFE_THREADS = 25,
  HOTPATCH_E_FUNCTION_IN_USE = 26
} hotpatch_status;

/* One patched function (see hotpatch_table). Strings stay valid until this thread's next call. */
typedef struct hotpatch_function {
  const char* symbol;
  const char* module;
  uintptr_t address;
  uint32_t version;
  const char* patch_id;
  int vtable_slot; /* 1 when redirected through vtable slots, 0 for an entry jump */
  int64_t since_unix_ms;
} hotpatch_function;

/* Applies the patch file at `path` as one transaction (everything or nothing). */
HOTPATCH_API hotpatch_status hotpatch_apply(const char* path);

/* Reverts the newest applied version of patch `patch_id`. */
HOTPATCH_API hotpatch_status hotpatch_revert(const char* patch_id);

/* This thread's last error message, "" after a success. Valid until this thread's next call. */
HOTPATCH_API const char* hotpatch_last_error(void);

/* Stable name of a status, e.g. "write_denied". */
HOTPATCH_API const char* hotpatch_status_name(hotpatch_status status);

/* Copies up to `capacity` rows of the patch table into `out`; returns the total number of rows. */
HOTPATCH_API size_t hotpatch_table(hotpatch_function* out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* HOTPATCH_HOTPATCH_H */
