// hotpatch attach: load the runtime into a process that was started without it and start its
// control endpoint with the operator's trust policy. One thread is borrowed (PTRACE_SEIZE +
// PTRACE_INTERRUPT) at a point where it holds no lock, made to call glibc's dlopen and the
// runtime's start, and put back exactly; the other threads never stop.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::attach {

struct AttachOptions {
  std::string runtime;                    ///< libhotpatch.so to load (absolute path)
  std::vector<std::string> trusted_keys;  ///< minisign public key lines the endpoint pins
  bool allow_unsigned = false;
  std::string log_file;                   ///< the runtime's log goes here when set (absolute)
  std::chrono::milliseconds wait{5000};   ///< how long to wait for a thread to reach a safe point
  /// Attach even though the process runs under a seccomp filter: the operator has checked that
  /// the filter allows what the runtime does (a filter that kills on a refused call would
  /// otherwise kill the service the first time the runtime makes one).
  bool allow_seccomp = false;
};

struct AttachReport {
  pid_t tid = 0;                          ///< the thread that was borrowed
  std::string waited_in;                  ///< the system call it was blocked in
  std::chrono::microseconds stall{0};     ///< how long it was held
  std::string runtime;                    ///< the file the process loaded
  std::string libc;                       ///< the process's libc as mapped (with " (deleted)" after an upgrade)
  std::string libc_build_id;
  bool loader_thread = false;             ///< loaded by a thread of its own (else by the borrowed one)
  std::chrono::microseconds cleanup_stall{0};  ///< the second, short hold that unmapped the loader's code
  std::string cleanup;                    ///< what was left behind and why, when anything was
};

/// Everything that can be refused is refused before the process is touched; what can only be
/// learned by trying (dlopen's answer) comes back with the process as it was.
Result<AttachReport> attach_runtime(pid_t pid, const AttachOptions& options);

/// Where the runtime is, seen from the running tool: beside it when installed
/// (<prefix>/bin/hotpatch -> <prefix>/<libdir>/libhotpatch.so.N), else the build tree's.
std::string default_runtime_path();

}  // namespace hotpatch::attach
