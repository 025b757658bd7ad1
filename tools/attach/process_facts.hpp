// What /proc says about another process before anything touches it: its state, tracer, owner,
// seccomp mode, threads, mappings and whether it has a dynamic loader. Read-only; every reader
// returns an error naming the file when the process is gone or the file cannot be read.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::attach {

struct ProcessStatus {
  std::string name;       ///< Name: (comm)
  char state = '?';       ///< R, S, D, T, t, Z, X
  pid_t parent = 0;       ///< PPid
  pid_t tracer = 0;       ///< TracerPid
  uid_t uid = 0;          ///< real uid
  uid_t euid = 0;         ///< effective uid
  int seccomp = 0;        ///< 0 none, 1 strict, 2 filter
  bool no_new_privs = false;
  std::uint64_t ignored_signals = 0;  ///< SigIgn: bit n-1 for signal n
};

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  bool readable = false;
  bool writable = false;
  bool executable = false;
  std::uint64_t offset = 0;
  std::string path;  ///< empty for anonymous memory; "[stack]" and such for special ones
  bool deleted = false;  ///< the file was replaced or removed since it was mapped (a package upgrade)
};

/// What a thread is doing, from /proc/P/task/T/syscall.
struct ThreadActivity {
  pid_t tid = 0;
  bool running = false;           ///< on a CPU or runnable: no system call to stand in
  long syscall = -1;              ///< blocked in this system call; -1 when blocked outside one
  std::uint64_t args[6] = {};
  std::uintptr_t sp = 0;
  std::uintptr_t pc = 0;
};

Result<ProcessStatus> read_status(pid_t pid, pid_t tid = 0);
Result<std::vector<Mapping>> read_maps(pid_t pid);
Result<std::vector<pid_t>> read_threads(pid_t pid);
Result<ThreadActivity> read_activity(pid_t pid, pid_t tid);

/// AT_BASE from /proc/P/auxv: where the dynamic loader was mapped; 0 for a static program.
Result<std::uintptr_t> loader_base(pid_t pid);

/// The owner of the files in /proc/P: root instead of the process's user when the process is not dumpable
/// (prctl PR_SET_DUMPABLE 0, or a set-uid start), which is what keeps non-root tracers out.
Result<uid_t> proc_dir_owner(pid_t pid);

/// True when P sees the same filesystem as this process (mount namespace and root directory):
/// a path chosen here names the same file there.
Result<bool> same_filesystem_view(pid_t pid);

/// The name a signal number has in messages ("SIGSEGV").
std::string signal_name(int sig);

/// The name of an x86-64 system call the attach logic knows, else "syscall N".
std::string syscall_name(long nr);

}  // namespace hotpatch::attach
