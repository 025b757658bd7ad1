#include "attach/held_thread.hpp"

#include "attach/process_facts.hpp"
#include "attach/remote_memory.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hotpatch::attach {
namespace {

// Kernel-internal restart codes a thread stopped inside a system call shows in rax.
constexpr long kERESTARTSYS = 512, kERESTARTNOINTR = 513, kERESTARTNOHAND = 514, kERESTART_RESTARTBLOCK = 516;

// These return EINTR when their thread is merely stopped, even with no handler to run (signal(7),
// "Interruption of system calls and library functions by stop signals"): restarted here instead.
bool returns_eintr_when_stopped(long nr) {
  switch (nr) {
    case SYS_epoll_wait:
    case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
    case SYS_rt_sigtimedwait:
    case SYS_semop:
    case SYS_semtimedop:
      return true;
    default:
      return false;
  }
}

std::uint64_t bit(int sig) { return std::uint64_t{1} << (sig - 1); }

// A blocked synchronous signal raised by a fault is forced: the kernel unblocks it and resets the
// program's handler. The call's own return fault (SIGSEGV) and any fault in the called code must
// find these open.
constexpr int kSynchronous[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};

std::string thread_text(pid_t pid, pid_t tid) {
  return pid == tid ? "process " + std::to_string(pid) : "thread " + std::to_string(tid) + " of process " + std::to_string(pid);
}

Error ptrace_error(pid_t pid, pid_t tid, const char* what, int err) {
  return make_error(err == EPERM ? ErrorCode::permission : ErrorCode::io, thread_text(pid, tid),
                    std::string(what) + ": " + std::strerror(err));
}

}  // namespace

Result<HeldThread> HeldThread::seize(pid_t pid, pid_t tid) {
  HeldThread t;
  t.pid_ = pid;
  t.tid_ = tid;
  if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) return ptrace_error(pid, tid, "PTRACE_SEIZE", errno);
  t.attached_ = true;
  t.since_ = std::chrono::steady_clock::now();
  if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return ptrace_error(pid, tid, "PTRACE_INTERRUPT", errno);
  for (;;) {
    int st = 0;
    if (::waitpid(tid, &st, __WALL) < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      t.attached_ = false;
      return ptrace_error(pid, tid, "waiting for it to stop", err);
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      t.attached_ = false;
      return make_error(ErrorCode::invalid_argument, thread_text(pid, tid), "exited while being stopped");
    }
    if (!WIFSTOPPED(st)) continue;
    if ((st >> 16) != PTRACE_EVENT_STOP) t.pending_signal_ = WSTOPSIG(st);
    break;
  }
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &t.saved_) != 0) return ptrace_error(pid, tid, "PTRACE_GETREGS", errno);
  t.xstate_.resize(64 * 1024);
  iovec io{t.xstate_.data(), t.xstate_.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &io) != 0) {
    return ptrace_error(pid, tid, "PTRACE_GETREGSET (extended registers)", errno);
  }
  t.xstate_.resize(io.iov_len);
  if (::ptrace(PTRACE_GETSIGMASK, tid, reinterpret_cast<void*>(sizeof t.saved_mask_), &t.saved_mask_) != 0) {
    return ptrace_error(pid, tid, "PTRACE_GETSIGMASK", errno);
  }
  t.scratch_ = t.saved_.rsp - 128;  // below the red zone the interrupted code may use
  return t;
}

// Waits for a stop of `tid`, giving up at `deadline` (0 then: the caller interrupts it).
int wait_stop(pid_t tid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int st = 0;
    const pid_t got = ::waitpid(tid, &st, __WALL | WNOHANG);
    if (got == tid) return st;
    if (got < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return 0;
    ::usleep(20);
  }
}

Result<HeldThread> HeldThread::seize_at_syscall_entry(pid_t pid, pid_t tid, bool (*wanted)(long nr),
                                                      std::chrono::steady_clock::time_point deadline) {
  HeldThread t;
  t.pid_ = pid;
  t.tid_ = tid;
  if (::ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0)
    return ptrace_error(pid, tid, "PTRACE_SEIZE", errno);
  t.attached_ = true;
  t.since_ = std::chrono::steady_clock::now();
  if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return ptrace_error(pid, tid, "PTRACE_INTERRUPT", errno);
  auto gone = [&] {
    t.attached_ = false;
    return make_error(ErrorCode::invalid_argument, thread_text(pid, tid), "exited while being stopped");
  };
  int deliver = 0;
  bool stopped = false;  // at a stop where PTRACE_SYSCALL may be given
  for (;;) {
    if (stopped) {
      if (::ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver))) != 0)
        return ptrace_error(pid, tid, "PTRACE_SYSCALL", errno);
      deliver = 0;
      stopped = false;
    }
    int st = wait_stop(tid, deadline);
    if (st == 0) {
      // Not there in time: stopped wherever it is, and let go as it was.
      (void)::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      st = wait_stop(tid, std::chrono::steady_clock::now() + std::chrono::seconds(5));
      if (st > 0 && WIFSTOPPED(st) && (st >> 16) != PTRACE_EVENT_STOP && WSTOPSIG(st) != (SIGTRAP | 0x80))
        t.pending_signal_ = WSTOPSIG(st);
      if (st > 0 && WIFSTOPPED(st)) (void)::ptrace(PTRACE_GETREGS, tid, nullptr, &t.saved_);
      (void)t.release();
      return make_error(ErrorCode::unsafe_threads, thread_text(pid, tid), "entered no wait hotpatch knows to hold no lock in time");
    }
    if (st < 0 || WIFEXITED(st) || WIFSIGNALED(st)) return gone();
    if (!WIFSTOPPED(st)) continue;
    stopped = true;
    if ((st >> 16) == PTRACE_EVENT_STOP) {
      // Stopped inside a wait that fails with EINTR on a mere stop: entered again from the start,
      // so the program never sees the EINTR (and the entry is caught like any other).
      user_regs_struct r{};
      unsigned char insn[2] = {};
      if (::ptrace(PTRACE_GETREGS, tid, nullptr, &r) == 0 && static_cast<long>(r.rax) == -EINTR &&
          returns_eintr_when_stopped(static_cast<long>(r.orig_rax)) && read_remote(pid, r.rip - 2, insn, 2) &&
          insn[0] == 0x0f && insn[1] == 0x05) {
        r.rax = r.orig_rax;
        r.rip -= 2;
        r.orig_rax = static_cast<unsigned long long>(-1);
        (void)::ptrace(PTRACE_SETREGS, tid, nullptr, &r);
      }
      continue;
    }
    if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
      deliver = WSTOPSIG(st);  // the program's own signal goes on to it
      continue;
    }
    __ptrace_syscall_info info{};
    if (::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof info), &info) <= 0) continue;
    if (info.op != PTRACE_SYSCALL_INFO_ENTRY || !wanted(static_cast<long>(info.entry.nr))) continue;
    break;
  }
  t.at_entry_ = true;
  t.since_ = std::chrono::steady_clock::now();  // it ran its own code until now: held from here
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &t.saved_) != 0) return ptrace_error(pid, tid, "PTRACE_GETREGS", errno);
  t.xstate_.resize(64 * 1024);
  iovec io{t.xstate_.data(), t.xstate_.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &io) != 0)
    return ptrace_error(pid, tid, "PTRACE_GETREGSET (extended registers)", errno);
  t.xstate_.resize(io.iov_len);
  if (::ptrace(PTRACE_GETSIGMASK, tid, reinterpret_cast<void*>(sizeof t.saved_mask_), &t.saved_mask_) != 0)
    return ptrace_error(pid, tid, "PTRACE_GETSIGMASK", errno);
  t.scratch_ = t.saved_.rsp - 128;
  return t;
}

HeldThread::HeldThread(HeldThread&& o) noexcept
    : pid_(o.pid_), tid_(o.tid_), attached_(std::exchange(o.attached_, false)), changed_(o.changed_),
      mask_changed_(o.mask_changed_), keep_mask_(o.keep_mask_), at_entry_(o.at_entry_), pending_signal_(o.pending_signal_), saved_(o.saved_),
      xstate_(std::move(o.xstate_)), saved_mask_(o.saved_mask_), scratch_(o.scratch_), since_(o.since_) {}

HeldThread::~HeldThread() {
  if (attached_) (void)release();
}

bool HeldThread::stopped_in_syscall(long nr) const {
  if (pending_signal_ != 0 || static_cast<long>(saved_.orig_rax) != nr) return false;
  if (at_entry_) return true;
  const long rax = static_cast<long>(saved_.rax);
  return rax == -kERESTARTSYS || rax == -kERESTARTNOINTR || rax == -kERESTARTNOHAND || rax == -kERESTART_RESTARTBLOCK ||
         (rax == -EINTR && returns_eintr_when_stopped(nr));
}

Result<std::uintptr_t> HeldThread::push(std::string_view bytes) {
  std::uintptr_t at = (scratch_ - bytes.size() - 1) & ~std::uintptr_t{15};
  std::string copy(bytes);
  copy.push_back('\0');
  HOTPATCH_TRY(write_remote(pid_, at, copy.data(), copy.size()));
  scratch_ = at;
  return at;
}

Result<std::uint64_t> HeldThread::call(std::uintptr_t function, std::initializer_list<std::uint64_t> args) {
  if (!attached_) return make_error(ErrorCode::internal, thread_text(pid_, tid_), "call on a released thread");
  if (args.size() > 6) return make_error(ErrorCode::internal, "remote call", "more than 6 arguments");
  changed_ = true;
  if (!keep_mask_ && !mask_changed_) {
    std::uint64_t mask = ~std::uint64_t{0};
    for (int sig : kSynchronous) mask &= ~bit(sig);
    if (::ptrace(PTRACE_SETSIGMASK, tid_, reinterpret_cast<void*>(sizeof mask), &mask) != 0)
      return ptrace_error(pid_, tid_, "PTRACE_SETSIGMASK", errno);
    mask_changed_ = true;
  }
  // The stack pointer is 8 past a 16-byte boundary at entry, as after a call, with the return
  // address (0) where the call would have pushed it.
  std::uintptr_t sp = ((scratch_ - 256) & ~std::uintptr_t{15}) - 8;
  const std::uint64_t zero = 0;
  HOTPATCH_TRY(write_remote(pid_, sp, &zero, sizeof zero));
  user_regs_struct r = saved_;
  unsigned long long* const arg_regs[] = {&r.rdi, &r.rsi, &r.rdx, &r.rcx, &r.r8, &r.r9};
  std::size_t i = 0;
  for (auto a : args) *arg_regs[i++] = a;
  r.rsp = sp;
  r.rip = function;
  r.rax = 0;
  r.orig_rax = static_cast<unsigned long long>(-1);  // no system call restart on the way in
  r.eflags &= ~0x500ull;                             // DF and TF clear, as the ABI requires
  if (::ptrace(PTRACE_SETREGS, tid_, nullptr, &r) != 0) return ptrace_error(pid_, tid_, "PTRACE_SETREGS", errno);
  int deliver = 0;
  for (;;) {
    if (::ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver))) != 0)
      return ptrace_error(pid_, tid_, "PTRACE_CONT", errno);
    deliver = 0;
    int st = 0;
    while (::waitpid(tid_, &st, __WALL) < 0) {
      if (errno != EINTR) return ptrace_error(pid_, tid_, "waiting for the call", errno);
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      attached_ = false;
      return make_error(ErrorCode::internal, thread_text(pid_, tid_),
                        WIFSIGNALED(st) ? "was killed by " + signal_name(WTERMSIG(st)) + " during the call"
                                        : std::string("exited during the call"));
    }
    if (!WIFSTOPPED(st)) continue;
    if ((st >> 16) == PTRACE_EVENT_STOP) continue;  // a group stop: the call goes on
    const int sig = WSTOPSIG(st);
    if (sig != SIGSEGV) {
      deliver = sig;  // the program's own signal: its handler runs on top of the call, as any would
      continue;
    }
    user_regs_struct g{};
    if (::ptrace(PTRACE_GETREGS, tid_, nullptr, &g) != 0) return ptrace_error(pid_, tid_, "PTRACE_GETREGS", errno);
    if (g.rip == 0 && g.rsp == sp + 8) return static_cast<std::uint64_t>(g.rax);
    char where[128];
    std::snprintf(where, sizeof where, "0x%llx (sp 0x%llx, expected 0x%lx)", g.rip, g.rsp, static_cast<unsigned long>(sp + 8));
    return make_error(ErrorCode::internal, thread_text(pid_, tid_),
                      std::string("the called code faulted (SIGSEGV) at ") + where);
  }
}

Status HeldThread::restore() {
  user_regs_struct r = saved_;
  // A system call that came back with EINTR only because the thread stopped is entered again; so
  // is one the thread was stopped on entry to, when calls ran in its place.
  const long nr = static_cast<long>(saved_.orig_rax);
  const bool eintr = pending_signal_ == 0 && static_cast<long>(saved_.rax) == -EINTR && returns_eintr_when_stopped(nr);
  if (eintr || (at_entry_ && changed_)) {
    unsigned char insn[2] = {};
    if (read_remote(pid_, saved_.rip - 2, insn, 2) && insn[0] == 0x0f && insn[1] == 0x05) {
      r.rax = saved_.orig_rax;
      r.rip -= 2;
    }
  }
  if (changed_ || r.rip != saved_.rip) {
    if (::ptrace(PTRACE_SETREGS, tid_, nullptr, &r) != 0) return ptrace_error(pid_, tid_, "restoring registers", errno);
  }
  if (changed_) {
    iovec io{xstate_.data(), xstate_.size()};
    if (::ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &io) != 0)
      return ptrace_error(pid_, tid_, "restoring extended registers", errno);
  }
  if (mask_changed_) {
    std::uint64_t mask = saved_mask_;
    if (::ptrace(PTRACE_SETSIGMASK, tid_, reinterpret_cast<void*>(sizeof mask), &mask) != 0)
      return ptrace_error(pid_, tid_, "restoring the signal mask", errno);
  }
  return {};
}

Status HeldThread::release() {
  if (!attached_) return {};
  Status restored = restore();
  const int sig = pending_signal_;
  attached_ = false;
  if (::ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0 && errno != ESRCH) {
    return ptrace_error(pid_, tid_, "PTRACE_DETACH", errno);
  }
  return restored;
}

std::chrono::microseconds HeldThread::held_for() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - since_);
}

}  // namespace hotpatch::attach
