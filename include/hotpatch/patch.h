/* Macros for writing a hotpatch patch (a shared object) and for marking functions of a program as
 * patchable. Usable from C99 and C++.
 *
 * A patch declares itself once, then one line per function it replaces and per symbol of the target
 * it needs to reach (including `static` functions and variables):
 *
 *     HOTPATCH_PATCH("fix-greeting", 2, "Say hello properly");
 *     HOTPATCH_IMPORT(int, hits, "hit_counter");          // int* hits -> the target's hit_counter
 *     static int fixed_hello(int n) { ++*hits; return n + 1; }
 *     HOTPATCH_REPLACE("hello", fixed_hello);             // or a mangled / demangled C++ name
 *
 * The macros put relocation-free records into the `.hotpatch` section, so the runtime and the CLI read
 * what a patch is and replaces from the file before any of its code is loaded. The CMake helper
 * hotpatch_add_patch() adds the HOTPATCH_TARGET record that binds the patch to one build (GNU build-id).
 */
#ifndef HOTPATCH_PATCH_H
#define HOTPATCH_PATCH_H

#ifdef __cplusplus
#define HOTPATCH_EXTERN_C extern "C"
#else
#define HOTPATCH_EXTERN_C
#endif

#define HOTPATCH_CAT_(a, b) a##b
#define HOTPATCH_CAT(a, b) HOTPATCH_CAT_(a, b)
#define HOTPATCH_STR_(x) #x
#define HOTPATCH_STR(x) HOTPATCH_STR_(x)

/* Version of the record format below; the runtime refuses records of a format it does not know. */
#define HOTPATCH_RECORD_FORMAT 1

/* One record: fields separated by NUL, record ended by a double NUL. */
#define HOTPATCH_RECORD_(text)                                                              \
  __attribute__((section(".hotpatch"), used, aligned(1))) static const char HOTPATCH_CAT( \
      hotpatch_record_, __COUNTER__)[] = text "\0"

/** Declares the patch: a stable id (letters, digits, . _ -), an integer version > 0, a sentence. */
#define HOTPATCH_PATCH(id, version, about) \
  HOTPATCH_RECORD_("P\0" HOTPATCH_STR(HOTPATCH_RECORD_FORMAT) "\0" id "\0" #version "\0" about)

/** Replaces the target's function `target_symbol` (a C name, a mangled C++ name, or a demangled C++
 *  signature such as "Greeter::hello(int) const") with `replacement`, a function of this patch with
 *  the same calling signature (a member function becomes a free function taking `this` first). */
#define HOTPATCH_REPLACE(target_symbol, replacement)                                         \
  HOTPATCH_EXTERN_C __attribute__((visibility("default"), used)) void* const                \
      hotpatch_replacement_##replacement = (void*)&replacement;                             \
  HOTPATCH_RECORD_("R\0" target_symbol "\0hotpatch_replacement_" #replacement)

/** HOTPATCH_REPLACE for a C function named by its identifier. */
#define HOTPATCH_REPLACE_C(function, replacement) HOTPATCH_REPLACE(#function, replacement)

/** Declares `type* name`, set by the runtime to the target's symbol `symbol` (function or variable,
 *  `static` ones included) before any replacement of this patch becomes active. */
#define HOTPATCH_IMPORT(type, name, symbol)                                                    \
  HOTPATCH_EXTERN_C __attribute__((visibility("default"), used)) __typeof__(type)* name = 0; \
  HOTPATCH_RECORD_("I\0" symbol "\0" #name)

/** Asks for a consistency model. HOTPATCH_CONSISTENCY(stack): the patch is applied only at a moment
 *  when no thread has any function it replaces on its stack (each thread's stack is unwound with
 *  libunwind, loaded only for such patches); until the apply's deadline the check is retried, then
 *  the apply is refused naming the thread and the frame. For changes whose old and new versions
 *  must never run at the same time (a changed data layout, a lock protocol). */
#define HOTPATCH_CONSISTENCY(model) HOTPATCH_RECORD_("C\0" #model)

/** Binds the patch to the module with this GNU build-id (hex); written by hotpatch_add_patch(). */
#define HOTPATCH_TARGET(build_id_hex, module_name) \
  HOTPATCH_RECORD_("T\0" build_id_hex "\0" module_name)

/** Marks a function of a program as patchable: kept out of line and out of interprocedural
 *  optimisation, so every caller really calls it and assumes nothing about its body. Where the
 *  compiler can (g++ >= 8, clang >= 10), it also gets an entry pad: five NOP bytes before it and
 *  two one-byte NOPs at its entry, through which the runtime redirects it without ever trapping a
 *  caller or stopping a thread. Define HOTPATCH_NO_ENTRY_PAD before including this header to leave
 *  the pad out (the function is then patched with a temporary int3, as any other function). */
#if defined(__has_attribute) && !defined(HOTPATCH_NO_ENTRY_PAD)
#if __has_attribute(patchable_function_entry)
#define HOTPATCH_ENTRY_PAD_ __attribute__((patchable_function_entry(7, 5)))
#endif
#endif
#ifndef HOTPATCH_ENTRY_PAD_
#define HOTPATCH_ENTRY_PAD_
#endif
#if defined(__clang__)
#define HOTPATCH_PATCHABLE __attribute__((noinline, used)) HOTPATCH_ENTRY_PAD_
#else
#define HOTPATCH_PATCHABLE __attribute__((noipa, used)) HOTPATCH_ENTRY_PAD_
#endif

#endif /* HOTPATCH_PATCH_H */
