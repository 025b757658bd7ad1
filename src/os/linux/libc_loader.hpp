#pragma once

namespace hotpatch::os {

/// libc's own dlopen and dlclose (found past the runtime's interposed ones), for the runtime's own
/// loads: patch objects and optional libraries. Null/-1 when libc has none.
using LibcOpenFn = void* (*)(const char*, int);
using LibcCloseFn = int (*)(void*);
LibcOpenFn find_libc_dlopen();
LibcCloseFn find_libc_dlclose();

void* real_dlopen(const char* file, int mode);
int real_dlclose(void* handle);

}  // namespace hotpatch::os
