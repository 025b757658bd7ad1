/* hotpatch control endpoint from C (C99 and later): let the `hotpatch` CLI patch this process.
 * Functions return 0 or an error code with the values of hotpatch::ErrorCode (hotpatch.h names the
 * common ones); hotpatch_control_last_error() gives this thread's last message. */
#ifndef HOTPATCH_CONTROL_H
#define HOTPATCH_CONTROL_H

#include <hotpatch/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts the endpoint with default options (no pinned key: it reports status and reverts, and
 * refuses every apply); socket_dir may be NULL for the default directory. */
HOTPATCH_API int hotpatch_enable_control(const char* socket_dir);

/* Starts the endpoint accepting patches signed by the keys in trusted_keys (the syntax of
 * HOTPATCH_TRUSTED_KEY: absolute paths of .pub files or key directories, separated by commas; may be
 * NULL). allow_unsigned != 0 also accepts unsigned patches (development only). Without a key and
 * without allow_unsigned, every apply over the socket is refused. */
HOTPATCH_API int hotpatch_enable_control_pinned(const char* socket_dir, const char* trusted_keys, int allow_unsigned);

/* Starts the endpoint and the registry poller as the HOTPATCH_* environment variables say. */
HOTPATCH_API int hotpatch_enable_control_from_environment(void);

HOTPATCH_API void hotpatch_disable_control(void);

/* The socket path ("" when control is off); valid until this thread's next call. */
HOTPATCH_API const char* hotpatch_control_socket_path(void);

HOTPATCH_API const char* hotpatch_control_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HOTPATCH_CONTROL_H */
