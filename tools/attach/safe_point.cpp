#include "attach/safe_point.hpp"


#include <algorithm>
#include <array>
#include <string_view>
#include <sys/syscall.h>

namespace hotpatch::attach {
namespace {

// How far up the stack return addresses are looked for. A library call holding a lock is a few
// frames above the system call: fgets down to read is about 1 KiB, dlopen down to the loader's
// read or mmap about 4 KiB. Further up are the program's own frames (main, its event loop), whose
// uninitialised slots still hold return addresses of whatever ran there before (the loader, at
// start-up): read as frames, they would keep a thread from ever being taken.
constexpr std::size_t kScanBytes = 8 * 1024;
// The call needs this much stack: dlopen, the runtime's constructors and its start.
constexpr std::size_t kNeededStack = 192 * 1024;

// Functions of libc that hold a lock the injected code also takes while they are on the stack.
constexpr std::string_view kLockingPrefixes[] = {
    "_IO_", "__uflow", "__underflow", "__overflow", "__isoc99_", "__libc_dl", "_dl_", "__nss_", "__pthread_create",
    "__libc_malloc", "__libc_free", "__libc_calloc", "__libc_realloc", "__libc_memalign"};
constexpr std::string_view kLockingNames[] = {
    // stdio: the stream's lock
    "fgets", "fgets_unlocked", "__fgets_chk", "fgetc", "getc", "getchar", "fgetws", "fgetwc", "getwc", "fread",
    "__fread_chk", "fwrite", "fputs", "fputc", "putc", "putchar", "puts", "fflush", "fclose", "fopen", "fopen64",
    "fdopen", "freopen", "fscanf", "scanf", "vfscanf", "fprintf", "printf", "vfprintf", "vprintf", "__fprintf_chk",
    "__printf_chk", "__vfprintf_chk", "getline", "getdelim", "__getdelim", "gets", "fseek", "fseeko", "ftell",
    "ftello", "rewind", "popen", "pclose", "setvbuf", "perror",
    // malloc: the arena lock
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc", "valloc",
    "pvalloc", "malloc_trim", "mallinfo", "mallinfo2", "malloc_stats", "malloc_info",
    // the loader and what runs under its locks
    "dlopen", "dlmopen", "dlclose", "dlsym", "dlvsym", "dladdr", "dladdr1", "dlinfo", "dl_iterate_phdr",
    // process-wide locks: fork handlers, exit handlers, thread creation, syslog, nss, locale, time zone
    "fork", "_Fork", "exit", "pthread_create", "syslog", "vsyslog", "setlocale", "newlocale", "tzset"};

bool takes_a_lock(std::string_view name) {
  for (auto p : kLockingPrefixes) {
    if (name.starts_with(p)) return true;
  }
  for (auto n : kLockingNames) {
    if (name == n) return true;
  }
  return name.starts_with("getpw") || name.starts_with("getgr") || name.starts_with("getaddrinfo") ||
         name.starts_with("gethostby") || name.starts_with("getserv");
}

}  // namespace

std::optional<std::string> syscall_problem(long nr) {
  switch (nr) {
    case SYS_epoll_wait:
    case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
    case SYS_poll:
    case SYS_ppoll:
    case SYS_select:
    case SYS_pselect6:
    case SYS_nanosleep:
    case SYS_clock_nanosleep:
    case SYS_pause:
    case SYS_rt_sigsuspend:
    case SYS_rt_sigtimedwait:
    case SYS_accept:
    case SYS_accept4:
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_read:
    case SYS_readv:
    case SYS_wait4:
    case SYS_waitid:
    case SYS_msgrcv:
    case SYS_io_getevents:
      return std::nullopt;
    case SYS_futex:
      return "may be waiting for a lock";
    default:
      return "is not a wait hotpatch knows to hold no lock";
  }
}

bool installs_temporary_mask(long nr) {
  return nr == SYS_ppoll || nr == SYS_pselect6 || nr == SYS_epoll_pwait || nr == SYS_rt_sigsuspend
#ifdef SYS_epoll_pwait2
         || nr == SYS_epoll_pwait2
#endif
      ;
}

SafePointJudge::SafePointJudge(pid_t pid, std::vector<Mapping> maps, const RemoteModule& libc)
    : pid_(pid), maps_(std::move(maps)), libc_(libc) {}

const Mapping* SafePointJudge::mapping_of(std::uintptr_t address) const {
  for (const auto& m : maps_) {
    if (address >= m.start && address < m.end) return &m;
  }
  return nullptr;
}

// A return address comes right after a call; a function pointer or a stale value seldom does.
bool SafePointJudge::follows_a_call(std::uintptr_t address) const {
  unsigned char b[7] = {};
  if (!read_remote(pid_, address - sizeof b, b, sizeof b)) return false;
  if (b[2] == 0xe8) return true;  // call rel32
  // call r/m64 (ff /2) with a 0-, 1- or 4-byte displacement, with or without a SIB byte
  for (int len : {2, 3, 4, 6, 7}) {
    const unsigned char* at = b + sizeof b - len;
    if (at[0] == 0xff && ((at[1] >> 3) & 7) == 2) return true;
    if (len <= 6 && at - 1 >= b && (at[-1] & 0xf0) == 0x40 && at[0] == 0xff && ((at[1] >> 3) & 7) == 2) return true;
  }
  return false;
}

std::size_t SafePointJudge::room_below(std::uintptr_t sp) const {
  const Mapping* m = mapping_of(sp);
  if (m == nullptr) return 0;
  // The main thread's stack grows on demand down to its limit; a thread's stack is what is mapped.
  if (m->path == "[stack]") return kNeededStack;
  return sp - m->start;
}

std::optional<std::string> SafePointJudge::code_problem(std::uintptr_t pc) const {
  const Mapping* m = mapping_of(pc);
  if (m == nullptr || !m->executable) return std::nullopt;
  if (m->path.find("/ld-linux") != std::string::npos) return "is inside the dynamic loader, which may hold its lock";
  if (m->path != libc_.path()) return std::nullopt;
  if (const RemoteFunction* f = libc_.containing(pc); f != nullptr && takes_a_lock(f->name)) {
    return "was called from " + f->name + ", which may hold a lock the runtime's loading needs";
  }
  return std::nullopt;
}

std::optional<std::string> SafePointJudge::scan_problem(std::uintptr_t sp, std::uintptr_t from) const {
  const Mapping* stack = mapping_of(from);
  if (stack == nullptr) return "its stack pointer is in no mapping";
  const std::size_t bytes = std::min<std::size_t>(kScanBytes, stack->end - from) & ~std::size_t{7};
  std::vector<std::uint64_t> words(bytes / 8);
  if (!words.empty() && !read_remote(pid_, from, words.data(), bytes)) return "its stack cannot be read";
  for (std::size_t k = 0; k < words.size(); ++k) {
    const std::uint64_t w = words[k];
    const Mapping* m = mapping_of(w);
    if (m == nullptr || !m->executable || !follows_a_call(w)) continue;
    // A return address points after its call, which may end the calling function.
    if (auto problem = code_problem(w - 1)) {
      return *problem + " (a return address " + std::to_string(from - sp + k * 8) + " bytes above its stack pointer)";
    }
  }
  return std::nullopt;
}

std::optional<std::string> SafePointJudge::stack_problem(pid_t tid, std::uintptr_t sp) const {
  if (mapping_of(sp) == nullptr) return "its stack pointer is in no mapping";
  if (room_below(sp) < kNeededStack) {
    return "its stack has " + std::to_string(room_below(sp) / 1024) + " KiB free, the call needs " +
           std::to_string(kNeededStack / 1024) + " KiB";
  }
  const StackWalk walk = walker_.walk(tid);
  for (std::size_t i = 0; i < walk.frames.size(); ++i) {
    const std::uintptr_t pc = walk.frames[i].pc;
    if (auto problem = code_problem(i == 0 ? pc : pc - 1)) return *problem + " (frame " + std::to_string(i) + ")";
  }
  if (walk.complete) return std::nullopt;
  // Above the last frame the walk could follow, any return address may be a live frame's.
  return scan_problem(sp, walk.frames.empty() ? sp : walk.frames.back().sp);
}

}  // namespace hotpatch::attach
