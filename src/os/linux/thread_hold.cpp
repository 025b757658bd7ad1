#include "os/linux/thread_hold.hpp"

#include "os/linux/task_status.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <linux/futex.h>
#include <linux/ptrace.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hotpatch::os {
namespace {

// The tracer shares our memory and our thread's TLS (no CLONE_SETTLS), so it calls nothing that
// touches libc state: raw system calls only, results as negative errno.
#define HP_TRACER_CODE __attribute__((no_sanitize("address", "thread", "undefined"), noinline))

HP_TRACER_CODE long raw_call(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long ret;
  register long r10 asm("r10") = d;
  asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}

enum Phase : std::uint32_t { kStarting, kHeld, kFailed, kRelease, kDone };
enum State : int { kNotAttached, kAttached, kStopped, kGone };
enum Step : int { kNoStep, kSeize, kInterrupt, kWaitStop, kReadState };

struct Record {
  int tid;
  int state;
  int inject;  // signal of a signal-delivery-stop, handed back on detach
  int restart;
  std::uint64_t mask;
  std::uint64_t new_pc;
  user_regs_struct regs;
};

// `phase` is accessed with __atomic builtins, not std::atomic: the tracer must not call the
// sanitizers' instrumented helpers, which would use this thread's sanitizer state at the same time
// as the thread itself.
struct Shared {
  std::uint32_t phase;
  int failed_tid;
  int failed_errno;
  int failed_step;
  int released_early;  // the parent did not ask in time: threads released with the mask as held
  std::uint64_t unblock;
  long stop_timeout_ns;
  long hold_timeout_ns;
  std::size_t count;
  Record records[1];
};

std::uint32_t load_phase(const Shared* s) { return __atomic_load_n(&s->phase, __ATOMIC_ACQUIRE); }

HP_TRACER_CODE long now_ns() {
  timespec ts{};
  raw_call(SYS_clock_gettime, CLOCK_MONOTONIC, reinterpret_cast<long>(&ts));
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

HP_TRACER_CODE void nap_us(long us) {
  timespec ts{0, us * 1000};
  raw_call(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
}

HP_TRACER_CODE void publish(Shared* s, Phase p) {
  __atomic_store_n(&s->phase, static_cast<std::uint32_t>(p), __ATOMIC_RELEASE);
  raw_call(SYS_futex, reinterpret_cast<long>(&s->phase), FUTEX_WAKE, 1);
}

HP_TRACER_CODE bool fail(Shared* s, int tid, long err, Step step) {
  s->failed_tid = tid;
  s->failed_errno = static_cast<int>(-err);
  s->failed_step = step;
  return false;
}

HP_TRACER_CODE bool stop_all(Shared* s) {
  for (std::size_t i = 0; i < s->count; ++i) {
    Record& r = s->records[i];
    long e = raw_call(SYS_ptrace, PTRACE_SEIZE, r.tid, 0, 0);
    if (e == -ESRCH) {
      r.state = kGone;
      continue;
    }
    if (e < 0) return fail(s, r.tid, e, kSeize);
    r.state = kAttached;
    e = raw_call(SYS_ptrace, PTRACE_INTERRUPT, r.tid, 0, 0);
    if (e < 0 && e != -ESRCH) return fail(s, r.tid, e, kInterrupt);
  }
  for (std::size_t i = 0; i < s->count; ++i) {
    Record& r = s->records[i];
    if (r.state != kAttached) continue;
    const long deadline = now_ns() + s->stop_timeout_ns;
    for (unsigned spins = 0;; ++spins) {
      int status = 0;
      const long w = raw_call(SYS_wait4, r.tid, reinterpret_cast<long>(&status), WNOHANG | __WALL, 0);
      if (w == r.tid) {
        if (WIFSTOPPED(status)) {
          if ((status >> 16) == 0) r.inject = WSTOPSIG(status);
          r.state = kStopped;
        } else {
          r.state = kGone;
        }
        break;
      }
      if (w == -ECHILD) {
        r.state = kGone;
        break;
      }
      if (w < 0 && w != -EINTR) return fail(s, r.tid, w, kWaitStop);
      if (now_ns() > deadline) return fail(s, r.tid, -ETIMEDOUT, kWaitStop);
      if (spins > 64) nap_us(10);
    }
    if (r.state != kStopped) continue;
    long e = raw_call(SYS_ptrace, PTRACE_GETREGS, r.tid, 0, reinterpret_cast<long>(&r.regs));
    if (e == 0) e = raw_call(SYS_ptrace, PTRACE_GETSIGMASK, r.tid, sizeof r.mask, reinterpret_cast<long>(&r.mask));
    if (e == 0) {
      std::uint64_t held_mask = r.mask & ~s->unblock;
      e = raw_call(SYS_ptrace, PTRACE_SETSIGMASK, r.tid, sizeof held_mask, reinterpret_cast<long>(&held_mask));
    }
    if (e < 0) return fail(s, r.tid, e, kReadState);
  }
  return true;
}

// With `exact`, a thread continues exactly as asked and with its own mask; without (the parent
// never asked), it keeps SIGTRAP and the check signal unblocked, so that an int3 still in place
// cannot kill it.
HP_TRACER_CODE void release_all(Shared* s, bool exact) {
  for (std::size_t i = 0; i < s->count; ++i) {
    Record& r = s->records[i];
    if (r.state != kStopped) continue;  // attached but never stopped: our exit detaches it
    if (exact) {
      if (r.new_pc != 0 || r.restart) {
        if (r.restart) {
          r.regs.rax = r.regs.orig_rax;
          r.regs.rip -= 2;  // the syscall instruction
        }
        if (r.new_pc != 0) r.regs.rip = r.new_pc;
        raw_call(SYS_ptrace, PTRACE_SETREGS, r.tid, 0, reinterpret_cast<long>(&r.regs));
      }
      raw_call(SYS_ptrace, PTRACE_SETSIGMASK, r.tid, sizeof r.mask, reinterpret_cast<long>(&r.mask));
    }
    raw_call(SYS_ptrace, PTRACE_DETACH, r.tid, 0, r.inject);
  }
}

HP_TRACER_CODE int tracer_main(void* arg) {
  auto* s = static_cast<Shared*>(arg);
  raw_call(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (!stop_all(s)) {
    release_all(s, true);
    publish(s, kFailed);
    return 0;
  }
  publish(s, kHeld);
  const long deadline = now_ns() + s->hold_timeout_ns;
  bool exact = true;
  while (__atomic_load_n(&s->phase, __ATOMIC_ACQUIRE) != kRelease) {
    if (now_ns() > deadline) {
      exact = false;
      s->released_early = 1;
      break;
    }
    timespec ms{0, 1000000};
    raw_call(SYS_futex, reinterpret_cast<long>(&s->phase), FUTEX_WAIT, kHeld, reinterpret_cast<long>(&ms));
  }
  release_all(s, exact);
  publish(s, kDone);
  return 0;
}

constexpr std::size_t kStackSize = 64 * 1024;

// clone(2) made directly: sanitizer runtimes intercept libc's clone() and cannot start a child that
// shares memory without its own thread state (ThreadSanitizer's interceptor sends it to a wild PC).
// long hp_tracer_clone(unsigned long flags, void* stack_top, int (*fn)(void*), void* arg): the pid,
// or -errno. The child runs fn(arg) on stack_top and exits with its result.
extern "C" long hp_tracer_clone(unsigned long flags, void* stack_top, int (*fn)(void*), void* arg);
asm(R"(
        .text
        .globl  hp_tracer_clone
        .hidden hp_tracer_clone
        .type   hp_tracer_clone, @function
hp_tracer_clone:
        sub     $16, %rsi
        mov     %rdx, 0(%rsi)
        mov     %rcx, 8(%rsi)
        mov     $56, %eax
        xor     %edx, %edx
        xor     %r10d, %r10d
        xor     %r8d, %r8d
        syscall
        test    %rax, %rax
        jnz     1f
        xor     %ebp, %ebp
        pop     %rax
        pop     %rdi
        and     $-16, %rsp
        call    *%rax
        mov     %eax, %edi
        mov     $60, %eax
        syscall
        hlt
1:      ret
        .size   hp_tracer_clone, .-hp_tracer_clone
)");

// A system call the stop made return EINTR (epoll_wait and a few others return it after any stop,
// where most return an ERESTART code the kernel handles) and that can be issued again unchanged.
bool restartable_after_eintr(long nr) {
  switch (nr) {
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2: case SYS_rt_sigtimedwait:
    case SYS_semop: case SYS_semtimedop: case SYS_io_getevents: case SYS_read: case SYS_readv:
    case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg: case SYS_write: case SYS_writev:
    case SYS_sendto: case SYS_sendmsg: case SYS_accept: case SYS_accept4: case SYS_msgrcv:
    case SYS_msgsnd: case SYS_futex: case SYS_mq_timedreceive: case SYS_mq_timedsend:
      return true;
    default:
      return false;
  }
}

const char* step_name(int step) {
  switch (step) {
    case kSeize: return "ptrace(PTRACE_SEIZE)";
    case kInterrupt: return "ptrace(PTRACE_INTERRUPT)";
    case kWaitStop: return "waiting for it to stop";
    case kReadState: return "reading its registers and signal mask";
    default: return "ptrace";
  }
}

// What on this machine makes ptrace fail with EPERM, for the message.
std::string eperm_causes(int tid) {
  std::string why;
  if (auto tracer = status_field(tid, "TracerPid:"); tracer && *tracer != "0")
    why += "it is already traced by process " + *tracer + " (a debugger); ";
  if (::prctl(PR_GET_DUMPABLE) != 1) why += "the process is not dumpable (it changed credentials, or set PR_SET_DUMPABLE 0); ";
  if (auto seccomp = status_field(0, "Seccomp:"); seccomp && *seccomp != "0")
    why += "a seccomp filter is installed (e.g. systemd's SystemCallFilter) and may deny ptrace; ";
  if (auto yama = read_small_file("/proc/sys/kernel/yama/ptrace_scope"); yama && !yama->empty() && (*yama)[0] != '0')
    why += "Yama's ptrace_scope is " + yama->substr(0, 1) + "; ";
  if (why.empty()) why = "the kernel or a security module refused it; ";
  why.resize(why.size() - 2);
  return why;
}

}  // namespace

std::vector<HoldReason> threads_to_hold(int check_signal) {
  std::vector<HoldReason> out;
  for (int tid : other_threads()) {
    const auto mask = blocked_signals(tid);
    if (!mask) continue;  // exited
    HoldReason r;
    r.tid = tid;
    r.blocked = *mask;
    r.blocks_trap = (*mask >> (SIGTRAP - 1)) & 1u;
    r.blocks_check = check_signal > 0 && ((*mask >> (check_signal - 1)) & 1u);
    if (r.blocks_trap || (r.blocks_check && !blocked_user_pc(tid))) out.push_back(r);
  }
  return out;
}

struct ThreadHold::Tracer {
  Shared* shared = nullptr;
  std::size_t shared_size = 0;
  void* stack = nullptr;
  pid_t pid = -1;

  ~Tracer() {
    if (pid > 0) {
      int status = 0;
      while (::waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
      }
    }
    if (stack != nullptr) ::munmap(stack, kStackSize);
    if (shared != nullptr) ::munmap(shared, shared_size);
  }

  // Waits while the tracer's phase is `from`. False when the tracer died instead.
  bool wait_while(Phase from) {
    while (load_phase(shared) == from) {
      timespec ms{0, 1000000};
      ::syscall(SYS_futex, &shared->phase, FUTEX_WAIT, from, &ms, nullptr, 0);
      int status = 0;
      if (load_phase(shared) == from && ::waitpid(pid, &status, WNOHANG | __WALL) == pid) {
        pid = -1;
        return false;
      }
    }
    return true;
  }
};

ThreadHold::ThreadHold() = default;
ThreadHold::ThreadHold(ThreadHold&&) noexcept = default;
ThreadHold& ThreadHold::operator=(ThreadHold&& other) noexcept {
  if (this != &other) {
    if (tracer_) (void)release([](std::uintptr_t pc) { return pc; });
    tracer_ = std::move(other.tracer_);
    held_ = std::move(other.held_);
  }
  return *this;
}
ThreadHold::~ThreadHold() {
  if (tracer_) (void)release([](std::uintptr_t pc) { return pc; });
}

const std::vector<int>& ThreadHold::held() const { return held_; }

Result<ThreadHold> ThreadHold::stop(std::span<const HoldReason> threads, std::uint64_t unblock_mask,
                                    std::chrono::milliseconds timeout) {
  ThreadHold hold;
  if (threads.empty()) return hold;
  auto t = std::make_unique<Tracer>();
  t->shared_size = sizeof(Shared) + threads.size() * sizeof(Record);
  void* mem = ::mmap(nullptr, t->shared_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return make_error(ErrorCode::internal, "thread hold", std::string("mmap: ") + std::strerror(errno));
  t->shared = static_cast<Shared*>(mem);
  Shared* s = t->shared;
  s->count = threads.size();
  s->unblock = unblock_mask;
  s->stop_timeout_ns = static_cast<long>(std::chrono::nanoseconds(timeout).count());
  // Long enough for any write window; it only matters if the writer is stuck (the tracer then
  // lets the threads go with SIGTRAP unblocked rather than hold them for ever).
  s->hold_timeout_ns = 10 * s->stop_timeout_ns + 1000000000L;
  for (std::size_t i = 0; i < threads.size(); ++i) s->records[i].tid = threads[i].tid;

  void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return make_error(ErrorCode::internal, "thread hold", std::string("mmap: ") + std::strerror(errno));
  t->stack = stack;

  // The tracer starts with every signal blocked: a handler must never run on it (it shares this
  // thread's TLS). No exit signal: the program's own waitpid(-1) never sees it.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const long cloned = hp_tracer_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED,
                                      static_cast<char*>(stack) + kStackSize, tracer_main, s);
  const int pid = cloned > 0 ? static_cast<int>(cloned) : -1;
  const int clone_errno = cloned > 0 ? 0 : static_cast<int>(-cloned);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0)
    return make_error(ErrorCode::unsafe_threads, describe_thread(threads[0].tid),
                      std::string("cannot be stopped for the write: starting the tracer failed: clone: ") +
                          std::strerror(clone_errno));
  t->pid = pid;

  if (!t->wait_while(kStarting))
    return make_error(ErrorCode::unsafe_threads, describe_thread(threads[0].tid),
                      "cannot be stopped for the write: the tracer process died");
  if (load_phase(s) == kFailed) {
    const int tid = s->failed_tid;
    const int err = s->failed_errno;
    std::string why = std::string(step_name(s->failed_step)) + ": " +
                      (err == ETIMEDOUT ? "it did not stop within " + std::to_string(timeout.count()) +
                                              " ms (uninterruptible sleep?)"
                                        : std::string(std::strerror(err)));
    if (err == EPERM) why += " (" + eperm_causes(tid) + ")";
    (void)t->wait_while(kFailed);
    return make_error(ErrorCode::unsafe_threads, describe_thread(tid), "cannot be stopped for the write: " + why);
  }
  for (std::size_t i = 0; i < s->count; ++i)
    if (s->records[i].state == kStopped) hold.held_.push_back(s->records[i].tid);
  hold.tracer_ = std::move(t);
  return hold;
}

Result<std::size_t> ThreadHold::release(const std::function<std::uintptr_t(std::uintptr_t)>& relocate,
                                        const std::function<std::size_t(std::uintptr_t)>& relocate_nested) {
  if (!tracer_) return std::size_t{0};
  auto t = std::move(tracer_);
  held_.clear();
  Shared* s = t->shared;
  std::size_t moved = 0;
  for (std::size_t i = 0; i < s->count; ++i) {
    Record& r = s->records[i];
    if (r.state != kStopped) continue;
    const auto pc = static_cast<std::uintptr_t>(r.regs.rip);
    if (const auto to = relocate(pc); to != pc) {
      r.new_pc = to;
      ++moved;
    }
    if (relocate_nested) moved += relocate_nested(static_cast<std::uintptr_t>(r.regs.rsp));
    const auto nr = static_cast<long>(r.regs.orig_rax);
    if (nr >= 0 && static_cast<long>(r.regs.rax) == -EINTR && restartable_after_eintr(nr) && r.inject == 0) {
      // Only when nothing else is waiting to be delivered to it: a real signal's EINTR stays.
      const auto pending = pending_signals(r.tid);
      r.restart = pending && (*pending & ~r.mask) == 0;
    }
  }
  __atomic_store_n(&s->phase, static_cast<std::uint32_t>(kRelease), __ATOMIC_RELEASE);
  ::syscall(SYS_futex, &s->phase, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  const bool done = t->wait_while(kRelease);
  if (!done || s->released_early)
    return make_error(ErrorCode::internal, "thread hold",
                      done ? "the tracer let the held threads go before the write ended; they keep SIGTRAP unblocked"
                           : "the tracer process died; the threads it held keep SIGTRAP unblocked");
  return moved;
}

}  // namespace hotpatch::os
