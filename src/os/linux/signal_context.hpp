// The registers of a context a signal interrupted, as the kernel hands it to a handler: the one
// place the signal code names this machine's registers (the rest of os/linux works with "the pc"
// and "the stack pointer").
#pragma once

#include <cstddef>
#include <cstdint>
#include <ucontext.h>

namespace hotpatch::os {

#if defined(__x86_64__)
inline std::uintptr_t context_pc(const ucontext_t& uc) { return static_cast<std::uintptr_t>(uc.uc_mcontext.gregs[REG_RIP]); }
inline void set_context_pc(ucontext_t& uc, std::uintptr_t pc) { uc.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(pc); }
inline std::uintptr_t context_sp(const ucontext_t& uc) { return static_cast<std::uintptr_t>(uc.uc_mcontext.gregs[REG_RSP]); }
/// Where the saved pc lies in a ucontext_t: for a frame edited in another thread's stack, where it
/// is memory rather than a ucontext_t of ours.
inline constexpr std::size_t kContextPcOffset =
    offsetof(ucontext_t, uc_mcontext) + offsetof(mcontext_t, gregs) + REG_RIP * sizeof(greg_t);
#else
#error "the signal code knows the register names of x86-64 only"
#endif

}  // namespace hotpatch::os
