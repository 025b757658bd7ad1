#include "attach/attach.hpp"

#include "attach/held_thread.hpp"
#include "attach/loader_stub.hpp"
#include "attach/process_facts.hpp"
#include "attach/remote_memory.hpp"
#include "attach/safe_point.hpp"
#include "control/discovery.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <functional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::attach {
namespace {

std::string subject(pid_t pid) { return "process " + std::to_string(pid); }

Error refuse(pid_t pid, ErrorCode code, std::string why) { return make_error(code, subject(pid), std::move(why)); }

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string thread_name(pid_t pid, pid_t tid) {
  auto s = read_status(pid, tid);
  return s ? s->name : std::string("?");
}

// Yama and capabilities are what make the kernel refuse a tracer that owns the process.
std::string why_ptrace_was_refused(pid_t pid, const ProcessStatus& st) {
  std::string why = "the kernel refused to trace it (PTRACE_SEIZE: Operation not permitted)";
  std::ifstream yama("/proc/sys/kernel/yama/ptrace_scope");
  int scope = 0;
  if (yama >> scope && scope > 0) {
    why += "; Yama's kernel.yama.ptrace_scope is " + std::to_string(scope) +
           (scope >= 3 ? " (no process may be traced; only a reboot lowers it)"
                       : scope == 2 ? " (only a tracer with CAP_SYS_PTRACE: run as root)"
                                    : " (only a parent may trace its children without CAP_SYS_PTRACE: run as root)");
  } else if (::geteuid() != 0) {
    why += "; process " + std::to_string(pid) + " belongs to uid " + std::to_string(st.uid) + ", you are uid " +
           std::to_string(::geteuid());
  } else {
    why += "; this tool lacks CAP_SYS_PTRACE (a container or a systemd unit's CapabilityBoundingSet= may drop it)";
  }
  return why;
}

// The file the process will map as code: whoever can replace it, or any directory above it,
// chooses what runs in the process. Returns the path without symlinks, which is what is loaded.
Result<std::string> checked_runtime(const std::string& path, uid_t target_uid) {
  if (path.empty() || path.front() != '/')
    return make_error(ErrorCode::invalid_argument, "--runtime", "'" + path + "' is not an absolute path");
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr)
    return make_error(ErrorCode::io, path, std::string("the runtime cannot be found: ") + std::strerror(errno));
  std::string p = real;
  for (std::string at = p;;) {
    struct stat st {};
    if (::lstat(at.c_str(), &st) != 0) return make_error(ErrorCode::io, at, std::strerror(errno));
    if (at == p && !S_ISREG(st.st_mode)) return make_error(ErrorCode::invalid_argument, p, "the runtime is not a regular file");
    if (st.st_uid != 0 && st.st_uid != target_uid) {
      return make_error(ErrorCode::permission, at,
                        "is owned by uid " + std::to_string(st.st_uid) + ", neither root nor the process's user (uid " +
                            std::to_string(target_uid) + "): its owner would choose the code the process runs");
    }
    const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
    if ((st.st_mode & 022) != 0 && !sticky_dir) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return make_error(ErrorCode::permission, at,
                        std::string("is writable by group or others (mode ") + mode +
                            "): whoever can write it would choose the code the process runs");
    }
    if (at == "/") break;
    auto slash = at.rfind('/');
    at = slash == 0 ? "/" : at.substr(0, slash);
  }
  return p;
}

std::string config_text(const AttachOptions& o) {
  std::string text = std::string("allow_unsigned=") + (o.allow_unsigned ? "1" : "0") + "\n";
  for (const auto& k : o.trusted_keys) text += "trusted_key=" + k + "\n";
  if (!o.log_file.empty()) text += "log_file=" + o.log_file + "\n";
  return text;
}

// What systemd hardening and seccomp look like from dlopen's side.
std::string load_hint(const std::string& dlerror_text, const ProcessStatus& st) {
  std::string hint;
  if (dlerror_text.find("failed to map segment") != std::string::npos ||
      dlerror_text.find("Operation not permitted") != std::string::npos) {
    hint += " (mapping new code was refused: systemd's NoExecPaths= or MemoryDenyWriteExecute=, or a noexec mount)";
  } else if (dlerror_text.find("Permission denied") != std::string::npos) {
    hint += " (the process's user cannot read the file, or its directory is not searchable: install the runtime "
            "where that user can read it, or give --runtime)";
  }
  if (st.seccomp == 2) hint += "; the process runs under a seccomp filter (systemd's SystemCallFilter=)";
  return hint;
}

class SignalsDeferred {
 public:
  // The borrowed thread returns to address 0 unless this tool puts it back: an operator's Ctrl-C
  // must wait until it has.
  SignalsDeferred() {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGPIPE}) sigaddset(&s, sig);
    ::pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~SignalsDeferred() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsDeferred(const SignalsDeferred&) = delete;
  SignalsDeferred& operator=(const SignalsDeferred&) = delete;

 private:
  sigset_t old_;
};

struct Libc {
  std::uintptr_t dlopen = 0, dlsym = 0, dlerror = 0, errno_location = 0, mmap = 0, munmap = 0, mprotect = 0,
                 pthread_create = 0, pthread_self = 0, pthread_detach = 0;
};

constexpr std::uint64_t kCodeBytes = 4096;
constexpr std::uint64_t kRegionBytes = kCodeBytes + ((sizeof(LoaderBlock) + 4095) & ~std::uint64_t{4095});

// The borrowed thread's errno is the program's: whatever the calls set, it is put back.
class ErrnoKept {
 public:
  static Result<ErrnoKept> save(HeldThread& t, pid_t pid, const Libc& libc) {
    ErrnoKept k;
    k.pid_ = pid;
    HOTPATCH_LET(at, t.call(libc.errno_location, {}));
    k.at_ = at;
    HOTPATCH_TRY(read_remote(pid, at, &k.value_, sizeof k.value_));
    return k;
  }
  Status restore() const { return write_remote(pid_, at_, &value_, sizeof value_); }

 private:
  pid_t pid_ = 0;
  std::uintptr_t at_ = 0;
  int value_ = 0;
};

bool call_failed(std::uint64_t rax) { return static_cast<std::int64_t>(rax) < 0 && static_cast<std::int64_t>(rax) > -4096; }

// What dlopen or the runtime's start answered, as the error the operator sees (or none).
Status outcome_of(pid_t pid, const std::string& runtime, int state, const std::string& message, const std::string& result,
                  const ProcessStatus& st) {
  if (state == loader_dlopen_failed) {
    const std::string why = message.empty() ? "dlopen gave no reason" : message;
    return refuse(pid, ErrorCode::load_failed, "could not load the runtime " + runtime + ": " + why + load_hint(why, st));
  }
  if (state == loader_no_entry)
    return refuse(pid, ErrorCode::load_failed, runtime + " is not the hotpatch runtime: it has no hotpatch_attach_start");
  if (result.empty()) return {};
  const bool already = result.find("already enabled") != std::string::npos;
  return refuse(pid, already ? ErrorCode::already_applied : ErrorCode::invalid_argument,
                (already ? "already enabled: " : "the runtime did not start its endpoint: ") + result);
}

// The fallback when the process may not make memory executable (systemd's MemoryDenyWriteExecute):
// the borrowed thread loads the runtime itself, and is held for as long as that takes.
Status load_on_held_thread(HeldThread& t, pid_t pid, const Libc& libc, const std::string& runtime,
                           const AttachOptions& options, const ProcessStatus& st) {
  HOTPATCH_LET(path_at, t.push(runtime));
  HOTPATCH_LET(handle, t.call(libc.dlopen, {path_at, RTLD_NOW}));
  if (handle == 0) {
    std::string why;
    if (auto msg_at = t.call(libc.dlerror, {}); msg_at && *msg_at != 0) {
      if (auto msg = read_remote_string(pid, *msg_at)) why = *msg;
    }
    return outcome_of(pid, runtime, loader_dlopen_failed, why, "", st);
  }
  HOTPATCH_LET(name_at, t.push("hotpatch_attach_start"));
  HOTPATCH_LET(start, t.call(libc.dlsym, {handle, name_at}));
  if (start == 0) return outcome_of(pid, runtime, loader_no_entry, "", "", st);
  HOTPATCH_LET(config_at, t.push(config_text(options)));
  HOTPATCH_LET(result_at, t.call(start, {config_at}));
  std::string result = "the runtime gave no answer";
  if (result_at != 0) {
    if (auto r = read_remote_string(pid, result_at)) result = *r;
  }
  return outcome_of(pid, runtime, loader_started, "", result, st);
}

// The usual way: the borrowed thread maps the loader's code and block and starts the loader
// thread, which does the slow part (dlopen, the runtime's start) while every thread runs.
// Returns the region's address, or 0 when the process may not make memory executable.
Result<std::uintptr_t> start_loader_thread(HeldThread& t, pid_t pid, const Libc& libc, const std::string& runtime,
                                           const AttachOptions& options) {
  const std::string config = config_text(options);
  LoaderBlock block;
  if (runtime.size() >= sizeof block.path || config.size() >= sizeof block.config)
    return make_error(ErrorCode::invalid_argument, runtime, "the path or the trust settings are too long");
  HOTPATCH_LET(region, t.call(libc.mmap, {0, kRegionBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                          static_cast<std::uint64_t>(-1), 0}));
  if (region == reinterpret_cast<std::uint64_t>(MAP_FAILED) || call_failed(region))
    return refuse(pid, ErrorCode::internal, "could not map memory for the loader (mmap failed in the process)");
  block.pthread_self = libc.pthread_self;
  block.pthread_detach = libc.pthread_detach;
  block.dlopen = libc.dlopen;
  block.dlsym = libc.dlsym;
  block.dlerror = libc.dlerror;
  std::memcpy(block.path, runtime.data(), runtime.size());
  std::memcpy(block.symbol, "hotpatch_attach_start", sizeof "hotpatch_attach_start");
  std::memcpy(block.config, config.data(), config.size());
  const std::size_t code_size = static_cast<std::size_t>(hp_loader_stub_end - hp_loader_stub_begin);
  HOTPATCH_TRY(write_remote(pid, region, hp_loader_stub_begin, code_size));
  HOTPATCH_TRY(write_remote(pid, region + kCodeBytes, &block, sizeof block));
  HOTPATCH_LET(protected_rc, t.call(libc.mprotect, {region, kCodeBytes, PROT_READ | PROT_EXEC}));
  if (protected_rc != 0) {
    (void)t.call(libc.munmap, {region, kRegionBytes});
    return std::uintptr_t{0};
  }
  HOTPATCH_LET(created, t.call(libc.pthread_create, {region + kCodeBytes + offsetof(LoaderBlock, thread), 0, region,
                                                    region + kCodeBytes}));
  if (static_cast<int>(created) != 0) {
    (void)t.call(libc.munmap, {region, kRegionBytes});
    return refuse(pid, ErrorCode::internal,
                  std::string("could not start the loader thread: pthread_create: ") + std::strerror(static_cast<int>(created)));
  }
  return region;
}

struct Candidate {
  pid_t tid;
  ThreadActivity activity;
};

// Event-loop waits first: they are where a service spends its idle time and what it resumes
// from most gracefully.
int preference(long nr) {
  auto name = syscall_name(nr);
  if (name.starts_with("epoll") || name == "poll" || name == "ppoll" || name == "select" || name == "pselect6") return 0;
  if (name.find("sleep") != std::string::npos || name == "pause") return 1;
  return 2;
}

// Runs `work` on a thread of `pid` held at a safe point, then puts the thread back. Waits up to
// `wait` for one; the error then lists every thread and why it would not do.
using HeldWork = std::function<Status(HeldThread&)>;
// `lock_free_work` says the work takes no lock of the program's (a bare system call): then any
// thread stopped in a system call will do.
Result<AttachReport> on_a_safe_thread(pid_t pid, const ProcessStatus& st, const SafePointJudge& judge,
                                      std::chrono::milliseconds wait, bool lock_free_work, const HeldWork& work) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<std::string> reasons;
  for (;;) {
    reasons.clear();
    HOTPATCH_LET(tids, read_threads(pid));
    std::vector<Candidate> candidates;
    std::vector<pid_t> busy;
    for (pid_t tid : tids) {
      auto activity = read_activity(pid, tid);
      if (!activity) continue;  // exited meanwhile
      const std::string who = "thread " + std::to_string(tid) + " (" + thread_name(pid, tid) + ")";
      if (activity->running) {
        reasons.push_back(who + " is running");
        busy.push_back(tid);
      } else if (activity->syscall < 0) {
        reasons.push_back(who + " is stopped outside a system call");
      } else if (auto problem = syscall_problem(activity->syscall); problem && !lock_free_work) {
        reasons.push_back(who + " is in " + syscall_name(activity->syscall) + ", which " + *problem);
      } else {
        candidates.push_back({tid, *activity});
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      return preference(a.activity.syscall) < preference(b.activity.syscall);
    });
    // Checks a held thread and, if it will do, runs the work on it and lets it go.
    auto use = [&](HeldThread& held, pid_t tid, long nr, std::uintptr_t pc) -> std::optional<Result<AttachReport>> {
      const std::string who = "thread " + std::to_string(tid) + " (" + thread_name(pid, tid) + ")";
      const std::string call = syscall_name(nr);
      const bool temporary_mask = installs_temporary_mask(nr) && !held.at_syscall_entry();
      std::optional<std::string> problem;
      const auto& regs = held.registers();
      if (!held.stopped_in_syscall(nr) || (!held.at_syscall_entry() && regs.rip != pc)) {
        problem = "left " + call + " as it was stopped";
      } else if (temporary_mask && (held.signal_mask() & (std::uint64_t{1} << (SIGSEGV - 1)))) {
        problem = "blocks SIGSEGV in " + call;
      } else if (!lock_free_work) {
        problem = judge.stack_problem(tid, regs.rsp);
      }
      if (problem) {
        reasons.push_back(who + " in " + call + ": " + *problem);
        if (auto s = held.release(); !s) return Result<AttachReport>(s.error());
        return std::nullopt;
      }
      held.set_keep_mask(temporary_mask);
      Status done = work(held);
      Status released = held.release();
      AttachReport report;
      report.tid = tid;
      report.waited_in = call + (held.at_syscall_entry() ? " (caught on entry)" : "");
      report.stall = held.held_for();
      if (!released) {
        return Result<AttachReport>(refuse(pid, ErrorCode::internal,
                                           "thread " + std::to_string(tid) + " could not be put back: " + released.error().what()));
      }
      if (!done) return Result<AttachReport>(done.error());
      return Result<AttachReport>(report);
    };
    for (const auto& c : candidates) {
      const std::string who = "thread " + std::to_string(c.tid) + " (" + thread_name(pid, c.tid) + ")";
      SignalsDeferred deferred;
      auto held = HeldThread::seize(pid, c.tid);
      if (!held) {
        if (held.error().code == ErrorCode::permission) return refuse(pid, ErrorCode::permission, why_ptrace_was_refused(pid, st));
        reasons.push_back(who + ": " + held.error().message);
        continue;
      }
      if (auto r = use(*held, c.tid, c.activity.syscall, c.activity.pc)) return *r;
    }
    // A busy thread (an event loop under load) is seldom found blocked, but enters its wait over
    // and over: it is let run to the entry of such a call and stopped there.
    for (pid_t tid : busy) {
      if (std::chrono::steady_clock::now() >= deadline) break;
      SignalsDeferred deferred;
      auto held = HeldThread::seize_at_syscall_entry(
          pid, tid, [](long nr) { return !syscall_problem(nr).has_value(); },
          std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)));
      if (!held) {
        if (held.error().code == ErrorCode::permission) return refuse(pid, ErrorCode::permission, why_ptrace_was_refused(pid, st));
        continue;
      }
      const long nr = static_cast<long>(held->registers().orig_rax);
      if (auto r = use(*held, tid, nr, 0)) return *r;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string why;
  for (const auto& r : reasons) why += (why.empty() ? "" : "; ") + r;
  return refuse(pid, ErrorCode::unsafe_threads,
                "no thread reached a safe point (blocked in a wait, holding no lock) within " +
                    std::to_string(wait.count()) + " ms: " + why);
}

bool thread_exists(pid_t pid, pid_t tid) {
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid)).c_str(), &st) == 0;
}

}  // namespace

std::string default_runtime_path() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir.resize(dir.rfind('/'));
    // The tool in <prefix>/bin, or the agent in <prefix>/libexec/hotpatch.
    for (const char* relative : {HOTPATCH_RUNTIME_FROM_BINDIR, HOTPATCH_RUNTIME_FROM_LIBEXECDIR}) {
      std::string installed = dir + "/" + relative;
      struct stat st {};
      if (::stat(installed.c_str(), &st) == 0) return installed;
    }
  }
  return HOTPATCH_RUNTIME_IN_BUILD_TREE;
}

Result<AttachReport> attach_runtime(pid_t pid, const AttachOptions& options) {
  if (pid <= 0) return make_error(ErrorCode::invalid_argument, "--pid", std::to_string(pid) + " is not a process id");
  if (pid == ::getpid()) return refuse(pid, ErrorCode::invalid_argument, "is this tool itself");
  HOTPATCH_LET(st, read_status(pid));
  if (st.state == 'Z' || st.state == 'X') {
    return refuse(pid, ErrorCode::invalid_argument,
                  "is a zombie: it has exited and its parent (PID " + std::to_string(st.parent) +
                      ") has not collected it; there is nothing left to attach to");
  }
  if (st.tracer != 0) {
    return refuse(pid, ErrorCode::permission,
                  "is already traced by PID " + std::to_string(st.tracer) + " (" + thread_name(st.tracer, 0) +
                      "): a debugger or tracer holds it and a process has one tracer at a time; detach it first");
  }
  const uid_t me = ::geteuid();
  if (me != 0 && st.uid != me) {
    return refuse(pid, ErrorCode::permission,
                  "belongs to uid " + std::to_string(st.uid) + " and you are uid " + std::to_string(me) +
                      ": only its own user or root may attach (ptrace permission)");
  }
  if (me != 0) {
    if (auto owner = proc_dir_owner(pid); owner && *owner == 0 && st.uid != 0) {
      return refuse(pid, ErrorCode::permission,
                    "is not dumpable (it called prctl(PR_SET_DUMPABLE, 0), or changed its user or group): "
                    "the kernel lets only root (CAP_SYS_PTRACE) trace it");
    }
  }
  HOTPATCH_LET(same_view, same_filesystem_view(pid));
  if (!same_view) {
    return refuse(pid, ErrorCode::invalid_argument,
                  "runs in another mount namespace or root directory (a container or chroot): a path chosen here "
                  "names another file there; run hotpatch attach inside it");
  }
  if (st.seccomp == 1) {
    return refuse(pid, ErrorCode::invalid_argument,
                  "runs in seccomp strict mode: any system call beyond read, write and exit kills it");
  }
  if (st.seccomp == 2 && !options.allow_seccomp) {
    return refuse(pid, ErrorCode::permission,
                  "runs under a seccomp filter (systemd's SystemCallFilter= or MemoryDenyWriteExecute=, a sandbox): "
                  "a filter that kills on a refused call would kill it the first time the runtime makes one "
                  "(ptrace, process_vm_readv and mprotect(PROT_EXEC) are the usual ones); check the filter, then "
                  "give --allow-seccomp");
  }
  HOTPATCH_LET(loader, loader_base(pid));
  if (loader == 0) {
    return refuse(pid, ErrorCode::invalid_argument,
                  "is statically linked (it has no dynamic loader): nothing can be loaded into it; attach needs a "
                  "dynamically linked program");
  }
  HOTPATCH_LET(maps, read_maps(pid));
  const Mapping* libc_map = nullptr;
  const Mapping* runtime_map = nullptr;
  bool musl = false;
  for (const auto& m : maps) {
    const std::string base = basename_of(m.path);
    if (m.offset == 0 && libc_map == nullptr && (base == "libc.so.6" || (base.starts_with("libc-2.") && base.ends_with(".so")))) libc_map = &m;
    if (m.offset == 0 && runtime_map == nullptr && base.starts_with("libhotpatch.so")) runtime_map = &m;
    if (base.starts_with("ld-musl") || base.starts_with("libc.musl")) musl = true;
  }
  if (libc_map == nullptr) {
    return refuse(pid, ErrorCode::invalid_argument,
                  std::string("does not use glibc (libc.so.6 is not loaded") + (musl ? "; it runs on musl" : "") +
                      "): attach loads the runtime with glibc's dlopen");
  }
  if (st.ignored_signals & (std::uint64_t{1} << (SIGSEGV - 1))) {
    return refuse(pid, ErrorCode::invalid_argument,
                  "ignores SIGSEGV: the borrowed thread's return to hotpatch is a fault the kernel would then turn into "
                  "a reset of the program's signal handling");
  }
  HOTPATCH_LET(libc, RemoteModule::read(pid, libc_map->start, libc_map->path));
  Libc calls;
  const std::string libc_text = libc_map->path + (libc_map->deleted ? " (deleted)" : "");
  const std::pair<const char*, std::uintptr_t*> wanted_calls[] = {
      {"dlopen", &calls.dlopen},         {"dlsym", &calls.dlsym},
      {"dlerror", &calls.dlerror},       {"__errno_location", &calls.errno_location},
      {"mmap", &calls.mmap},             {"munmap", &calls.munmap},
      {"mprotect", &calls.mprotect},     {"pthread_create", &calls.pthread_create},
      {"pthread_self", &calls.pthread_self}, {"pthread_detach", &calls.pthread_detach}};
  for (auto [name, slot] : wanted_calls) {
    auto at = libc.find(name);
    if (!at) {
      return refuse(pid, ErrorCode::invalid_argument,
                    "its libc (" + libc_text + ", build-id " + libc.build_id() + ") exports no " + name +
                        ": attach needs glibc 2.34 or later");
    }
    *slot = *at;
  }

  // A runtime already in the process is the one to use: a second copy would be a second engine.
  std::string wanted = runtime_map != nullptr && !runtime_map->deleted ? runtime_map->path : options.runtime;
  if (runtime_map != nullptr) {
    if (auto sock = control::find_socket(pid)) {
      return refuse(pid, ErrorCode::already_applied, "already enabled: its runtime serves " + *sock);
    }
  }
  HOTPATCH_LET(runtime, checked_runtime(wanted, st.uid));

  SafePointJudge judge(pid, maps, libc);
  std::uintptr_t region = 0;
  bool loaded_on_held_thread = false;
  Status held_outcome;
  HOTPATCH_LET(first, on_a_safe_thread(pid, st, judge, options.wait, false, [&](HeldThread& t) -> Status {
    HOTPATCH_LET(kept, ErrnoKept::save(t, pid, calls));
    auto started = start_loader_thread(t, pid, calls, runtime, options);
    if (started && *started == 0) {
      loaded_on_held_thread = true;
      held_outcome = load_on_held_thread(t, pid, calls, runtime, options, st);
    }
    HOTPATCH_TRY(kept.restore());
    if (!started) return started.error();
    region = *started;
    return held_outcome ? Status{} : held_outcome;
  }));
  AttachReport report = first;
  report.runtime = runtime;
  report.libc = libc_text;
  report.libc_build_id = libc.build_id();
  report.loader_thread = !loaded_on_held_thread;
  if (loaded_on_held_thread) return report;

  // The loader thread runs on its own now; its answer comes through the block.
  const std::uintptr_t block_at = region + kCodeBytes;
  LoaderBlock block;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    HOTPATCH_TRY(read_remote(pid, block_at, &block, sizeof block));
    if (block.state != loader_running) break;
    if (std::chrono::steady_clock::now() > give_up) {
      return refuse(pid, ErrorCode::internal,
                    "the runtime's loading thread has not finished after 60 s (dlopen waits for a lock another "
                    "thread holds); it will finish or stay blocked on its own, the program's threads run on");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::string result;
  if (block.state == loader_started && block.result != 0) {
    if (auto r = read_remote_string(pid, block.result)) result = *r;
  }
  block.message[sizeof block.message - 1] = '\0';
  Status outcome = outcome_of(pid, runtime, static_cast<int>(block.state), block.message, result, st);

  // Its code is unmapped once the thread is gone: nothing executable of ours stays behind.
  const auto gone_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (thread_exists(pid, static_cast<pid_t>(block.tid)) && std::chrono::steady_clock::now() < gone_by) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (thread_exists(pid, static_cast<pid_t>(block.tid))) {
    report.cleanup = "the loader's page at " + std::to_string(region) + " stays mapped: its thread has not exited";
  } else {
    auto second = on_a_safe_thread(pid, st, judge, options.wait, true, [&](HeldThread& t) -> Status {
      HOTPATCH_LET(kept, ErrnoKept::save(t, pid, calls));
      HOTPATCH_LET(rc, t.call(calls.munmap, {region, kRegionBytes}));
      HOTPATCH_TRY(kept.restore());
      if (rc != 0) return refuse(pid, ErrorCode::internal, "munmap of the loader's pages failed");
      return {};
    });
    if (second) report.cleanup_stall = second->stall;
    else report.cleanup = "the loader's pages stay mapped: " + second.error().what();
  }
  if (!outcome) return outcome.error();
  return report;
}

}  // namespace hotpatch::attach
