// Calls a function with its return address at a chosen `ret` byte (0xc3) in another module's code;
// that ret brings control back here. glibc's dlopen takes "the caller" from its return address
// (the caller's namespace, RUNPATH and $ORIGIN decide what a name means), so a wrapper that calls
// it on someone's behalf must return through that someone's code.
// Not usable when the CPU's shadow stack is enabled for the process (the ret would not match it).
#pragma once

extern "C" {
using hp_open_fn = void* (*)(const char*, int);
/// fn(file, mode), returning through `ret_byte`, which must point at a 0xc3 in executable memory.
void* hp_call_returning_through(hp_open_fn fn, const char* file, int mode, const void* ret_byte);
}
