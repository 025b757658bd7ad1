#include "os/linux/thread_round.hpp"

#include "os/linux/loaded_segments.hpp"
#include "os/linux/signal_context.hpp"
#include "os/linux/task_status.hpp"

#include "support/log.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <link.h>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <linux/membarrier.h>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <pthread.h>
#include <cstddef>
#include <thread>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

namespace hotpatch::os {
namespace {

// Immutable once published; replaced (never freed) when sites are added, because a handler on
// another thread may still be reading an older table.
struct SiteTable {
  std::size_t count;
  SiteRecord records[1];
};

// Grow-only board where handlers acknowledge a round: slot[i] holds the newest round seen by the
// i-th thread signalled. Storing the round number (not a flag) makes late answers harmless.
struct AckBoard {
  std::size_t capacity;
  std::atomic<std::uint64_t> slots[1];
};

std::atomic<const SiteTable*> g_sites{nullptr};
std::atomic<AckBoard*> g_board{nullptr};
std::atomic<std::uint64_t> g_rounds{0};
std::atomic<std::uint64_t> g_relocated{0};
std::atomic<std::uint64_t> g_trap_redirects{0};
std::atomic<std::uint64_t> g_held{0};
std::atomic<bool> g_membarrier{false};
int g_check_signal = 0;
struct sigaction g_previous_trap{};

std::mutex g_install_mutex;  // guards installation, table and board replacement
bool g_installed = false;
std::vector<int> g_held_tids;  // stopped by a ThreadHold now: rounds leave them out
// Old tables and boards, kept alive on purpose (a handler may still read one). Never destroyed
// either: threads can take signals while the process exits.
std::vector<void*>& g_retired = *new std::vector<void*>;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "handlers need lock-free atomics");

const SiteRecord* site_at_or_before(const SiteTable* table, std::uintptr_t pc) {
  if (table == nullptr || table->count == 0) return nullptr;
  std::size_t lo = 0, hi = table->count;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (table->records[mid].site <= pc) lo = mid + 1;
    else hi = mid;
  }
  return lo == 0 ? nullptr : &table->records[lo - 1];
}

// The same instruction in the trampoline for a PC strictly inside a site's overwritten bytes;
// otherwise the PC itself.
std::uintptr_t relocated_pc(std::uintptr_t pc) {
  const SiteRecord* r = site_at_or_before(g_sites.load(std::memory_order_acquire), pc);
  if (r == nullptr || pc <= r->site || pc >= r->site + r->length) return pc;
  const std::uint8_t mapped = r->offset_map[pc - r->site];
  if (mapped == arch::kNoBoundary) return pc;  // a PC is always on a boundary; never guess
  return r->trampoline + mapped;
}

void move_out_of_entry(ucontext_t* uc) {
  const auto pc = context_pc(*uc);
  const auto to = relocated_pc(pc);
  if (to == pc) return;
  set_context_pc(*uc, to);
  g_relocated.fetch_add(1, std::memory_order_relaxed);
}

// A thread inside a signal handler of its own returns, through the handler's signal frame, to the
// context the signal interrupted, which may lie strictly inside entry bytes being overwritten. The
// frame starts with the return address of the handler: libc's restorer (sa_restorer, the same for
// every handler installed through libc). A word equal to it, followed by a ucontext whose FPU
// state pointer lies just above, in the same frame, is taken for such a frame.
std::uintptr_t g_restorer = 0;
constexpr std::size_t kFrameScan = 256 * 1024;  // how far above the stack pointer frames are looked for
constexpr std::size_t kFpStateReach = 32 * 1024;

struct NestedFrame {
  std::uintptr_t at = 0;  // address of the restorer word; the ucontext follows it
  std::uintptr_t pc = 0;
  std::uintptr_t sp = 0;
};

// The kernel's frame is smaller than glibc's ucontext_t: only the part up to the signal mask is
// the same, and the FPU state follows the frame, 64-byte aligned (xsave).
constexpr std::size_t kFramePrefix = offsetof(ucontext_t, uc_sigmask);

bool plausible_frame(std::uintptr_t at, const ucontext_t& uc) {
  const auto fp = reinterpret_cast<std::uintptr_t>(uc.uc_mcontext.fpregs);
  return fp > at + 8 + kFramePrefix && fp < at + kFpStateReach && fp % 64 == 0;
}

// Scans [from, to) (8-byte aligned words) read through `words`, which gives the word at an address
// or false past readable memory; calls `found` for every plausible frame.
template <class Read, class Found>
void scan_frames(std::uintptr_t from, std::uintptr_t to, Read&& words, Found&& found) {
  if (g_restorer == 0) return;
  for (std::uintptr_t a = (from + 7) & ~std::uintptr_t{7}; a + 8 + kFramePrefix <= to; a += 8) {
    std::uintptr_t w = 0;
    if (!words(a, &w, sizeof w)) return;
    if (w != g_restorer) continue;
    ucontext_t uc;
    if (!words(a + 8, &uc, kFramePrefix)) return;
    if (!plausible_frame(a, uc)) continue;
    found(NestedFrame{a, context_pc(uc), context_sp(uc)});
  }
}

// Stack memory is read as it is: under AddressSanitizer parts of it are poisoned redzones of live
// frames, which is no error here.
__attribute__((no_sanitize("address", "thread"))) bool read_stack(std::uintptr_t at, void* out, std::size_t n) {
  const auto* from = reinterpret_cast<const volatile unsigned char*>(at);
  auto* to = static_cast<unsigned char*>(out);
  for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
  return true;
}

std::uintptr_t rip_slot(const NestedFrame& f) {
  return f.at + 8 + kContextPcOffset;
}

// Readable mappings, published for a round in which a thread may be inside a handler of its own
// (the program catches signals): the check signal's handler scans only within the one mapping its
// stack pointer is in, which cannot go away while the thread runs on it.
struct Region {
  std::uintptr_t lo, hi;
};
struct RegionTable {
  std::size_t count;
  Region regions[1];
};
std::atomic<const RegionTable*> g_regions{nullptr};
std::atomic<bool> g_scan_frames{false};  // this round's table is fresh and frames may be there

const Region* region_of(std::uintptr_t sp) {
  const RegionTable* t = g_regions.load(std::memory_order_acquire);
  if (t == nullptr) return nullptr;
  std::size_t lo = 0, hi = t->count;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (t->regions[mid].hi <= sp) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->count && t->regions[lo].lo <= sp ? &t->regions[lo] : nullptr;
}

// Where the readable memory from `lo` ends, at most `hi`. The round's table of mappings can be
// older than the memory it lists: the kernel merges neighbouring anonymous mappings into one line of
// /proc/self/maps, and a neighbour unmapped or replaced since (a sanitizer's alternate signal stack,
// a thread's stack and its guard page) leaves the table's region longer than what is readable;
// reading past it would fault in this handler. Each page is probed with process_vm_readv, which
// fails (EFAULT) instead of faulting; where a filter refuses that call, mincore, which fails
// (ENOMEM) for a range with a page unmapped, bounds it instead. The handler saves errno.
std::size_t g_page = 4096;  // set when the handler is installed; sysconf is not for signal handlers

bool page_readable(pid_t self, std::uintptr_t page, bool& probe_refused) {
  unsigned char byte = 0;
  iovec local{&byte, 1};
  iovec remote{reinterpret_cast<void*>(page), 1};
  if (::syscall(SYS_process_vm_readv, self, &local, 1, &remote, 1, 0) == 1) return true;
  probe_refused = errno == ENOSYS || errno == EPERM;
  return false;
}

std::uintptr_t mapped_end(std::uintptr_t lo, std::uintptr_t hi) {
  const std::uintptr_t first = lo & ~(g_page - 1);
  const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
  bool refused = false;
  for (std::uintptr_t page = first; page < hi; page += g_page) {
    if (page_readable(self, page, refused)) continue;
    if (!refused) return std::max(lo, page);
    break;
  }
  if (!refused) return hi;
  const std::size_t pages = (hi - first + g_page - 1) / g_page;
  unsigned char vec[kFrameScan / 4096 + 2];
  if (pages > sizeof vec) return lo;
  auto mapped = [&](std::size_t n) { return n == 0 || ::mincore(reinterpret_cast<void*>(first), n * g_page, vec) == 0; };
  if (mapped(pages)) return hi;
  std::size_t good = 0, bad = pages;  // mapped(good), !mapped(bad)
  while (bad - good > 1) {
    const std::size_t mid = (good + bad) / 2;
    (mapped(mid) ? good : bad) = mid;
  }
  return std::max(lo, std::min<std::uintptr_t>(hi, first + good * g_page));
}

// In the thread itself (the check signal's handler): moves every interrupted context of its own
// handlers out of entry bytes, following each frame to the stack it interrupted.
void move_nested_out_of_entries(const ucontext_t* uc) {
  if (!g_scan_frames.load(std::memory_order_acquire)) return;
  std::uintptr_t sp = context_sp(*uc);
  for (int depth = 0; depth < 8 && sp != 0; ++depth) {
    const Region* in = region_of(sp);
    if (in == nullptr) return;
    const std::uintptr_t end = mapped_end(sp, std::min(in->hi, sp + kFrameScan));
    std::uintptr_t next = 0;
    scan_frames(sp, end, read_stack,
                [&](const NestedFrame& f) {
                  const auto to = relocated_pc(f.pc);
                  if (to != f.pc) {
                    *reinterpret_cast<greg_t*>(rip_slot(f)) = static_cast<greg_t>(to);
                    g_relocated.fetch_add(1, std::memory_order_relaxed);
                  }
                  if (next == 0 && (f.sp < sp || f.sp >= end)) next = f.sp;  // it interrupted another stack
                });
    sp = next;
  }
}

// Copies up to kFrameScan bytes of another thread's stack from `sp` (8-byte aligned down) into
// `buf`, stopping where readable memory ends; returns the bytes copied. process_vm_readv fails
// instead of faulting, and stops at the first unreadable remote piece but never splits one: one
// piece per page, so a piece crossing the end of the stack does not make the whole read fail.
std::size_t read_stack_copy(std::uintptr_t sp, std::vector<std::uintptr_t>& buf) {
  constexpr std::size_t kPiece = 4096;
  buf.resize(kFrameScan / sizeof(std::uintptr_t));
  iovec local{buf.data(), kFrameScan};
  iovec remote[kFrameScan / kPiece];
  std::uintptr_t at = sp;
  for (auto& r : remote) {
    const std::uintptr_t next_page = (at / kPiece + 1) * kPiece;
    r = {reinterpret_cast<void*>(at), static_cast<std::size_t>(next_page - at)};
    at = next_page;
  }
  const ssize_t n = process_vm_readv(getpid(), &local, 1, remote, kFrameScan / kPiece, 0);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// From another thread (normal context): whether the thread whose user stack pointer is `sp` has
// a frame of its own handler to return into entry bytes. Read with process_vm_readv, which fails
// instead of faulting where memory ends.
// `move` also rewrites them: for a thread that cannot run meanwhile (held, stopped by ptrace).
std::size_t nested_frames_in_entries(std::uintptr_t sp, bool move) {
  if (g_restorer == 0 || sp == 0) return 0;
  static thread_local std::vector<std::uintptr_t> buf;
  std::size_t count = 0;
  for (int depth = 0; depth < 8 && sp != 0; ++depth) {
    sp &= ~std::uintptr_t{7};
    const std::size_t n = read_stack_copy(sp, buf);
    if (n == 0) break;
    const std::uintptr_t end = sp + n;
    std::uintptr_t next = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(buf.data());
    scan_frames(sp, end,
                [&](std::uintptr_t a, void* out, std::size_t len) { std::memcpy(out, bytes + (a - sp), len); return true; },
                [&](const NestedFrame& f) {
                  const auto to = relocated_pc(f.pc);
                  if (to != f.pc) {
                    ++count;
                    if (move) *reinterpret_cast<greg_t*>(rip_slot(f)) = static_cast<greg_t>(to);
                  }
                  if (next == 0 && (f.sp < sp || f.sp >= end)) next = f.sp;
                });
    sp = next;
  }
  return count;
}

// A stack-probe round: the handler also walks its thread's stack and leaves the answer here.
struct ProbeAnswer {
  std::atomic<int> frame;
  std::atomic<std::uintptr_t> pc;
};
struct ProbeBoard {
  std::size_t capacity;
  ProbeAnswer answers[1];
};
std::atomic<std::uint64_t> g_probe_round{0};
std::atomic<StackProbe> g_probe{nullptr};
std::atomic<ProbeBoard*> g_probe_board{nullptr};

void answer_probe(const ucontext_t* uc, std::uint64_t round, std::size_t index) {
  if (g_probe_round.load(std::memory_order_acquire) != round) return;
  const StackProbe probe = g_probe.load(std::memory_order_acquire);
  ProbeBoard* board = g_probe_board.load(std::memory_order_acquire);
  if (probe == nullptr || board == nullptr || index >= board->capacity) return;
  std::uintptr_t pc = 0;
  const int frame = probe(uc, &pc);
  board->answers[index].pc.store(pc, std::memory_order_relaxed);
  board->answers[index].frame.store(frame, std::memory_order_relaxed);
}

void on_check_signal(int, siginfo_t* info, void* context) {
  if (info->si_code != SI_QUEUE || info->si_pid != getpid()) return;  // not from our round
  const int saved_errno = errno;
  move_out_of_entry(static_cast<ucontext_t*>(context));
  move_nested_out_of_entries(static_cast<ucontext_t*>(context));
  const auto token = reinterpret_cast<std::uintptr_t>(info->si_value.sival_ptr);
  const std::uint64_t round = token >> 32;
  const std::size_t index = token & 0xffffffffu;
  answer_probe(static_cast<ucontext_t*>(context), round, index);  // before the acknowledgement below
  AckBoard* board = g_board.load(std::memory_order_acquire);
  if (board != nullptr && index < board->capacity) {
    auto& slot = board->slots[index];
    std::uint64_t seen = slot.load(std::memory_order_relaxed);
    while (seen < round && !slot.compare_exchange_weak(seen, round, std::memory_order_release)) {
    }
  }
  // Returning goes through rt_sigreturn, whose IRET path is serialising: the thread refetches code.
  errno = saved_errno;
}

void on_trap(int sig, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  const auto pc = context_pc(*uc);
  if (info->si_code == SI_KERNEL && pc > 0) {
    const SiteRecord* r = site_at_or_before(g_sites.load(std::memory_order_acquire), pc - 1);
    if (r != nullptr && r->site == pc - 1) {
      set_context_pc(*uc, r->trampoline);  // the caller runs the old version, whole
      g_trap_redirects.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  // Not ours: behave as the program would have without us.
  if (g_previous_trap.sa_flags & SA_SIGINFO) {
    if (g_previous_trap.sa_sigaction != nullptr) g_previous_trap.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous_trap.sa_handler == SIG_IGN) return;
  if (g_previous_trap.sa_handler != SIG_DFL && g_previous_trap.sa_handler != nullptr) {
    g_previous_trap.sa_handler(sig);
    return;
  }
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGTRAP, &dfl, nullptr);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGTRAP);
}

// A value that is not a usable signal is an error, not a quiet fallback to the default: the
// operator chose the number to keep clear of a signal the program uses.
Result<int> choose_signal() {
  const char* env = std::getenv("HOTPATCH_SIGNAL");
  if (env == nullptr || *env == '\0') return SIGRTMAX - 3;
  int n = 0;
  const char* end = env + std::strlen(env);
  auto [stop, ec] = std::from_chars(env, end, n);
  if (ec != std::errc{} || stop != end || n < SIGRTMIN || n > SIGRTMAX) {
    return make_error(ErrorCode::invalid_argument, "HOTPATCH_SIGNAL",
                      "'" + log::escape_line(env) + "' is not a real-time signal number between SIGRTMIN (" +
                          std::to_string(SIGRTMIN) + ") and SIGRTMAX (" + std::to_string(SIGRTMAX) + ")");
  }
  return n;
}

Status install_locked() {
  if (g_installed) return {};
  HOTPATCH_LET(sig, choose_signal());
  struct sigaction current{};
  sigaction(sig, nullptr, &current);
  const bool has_handler = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                            : (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
  if (has_handler)
    return make_error(ErrorCode::invalid_argument, "signal " + std::to_string(sig),
                      "the program already handles this signal, which hotpatch needs for its thread "
                      "check; pick a free real-time signal with HOTPATCH_SIGNAL");
  struct sigaction action{};
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  action.sa_sigaction = on_check_signal;
  if (sigaction(sig, &action, nullptr) != 0)
    return make_error(ErrorCode::internal, "sigaction", std::strerror(errno));
  action.sa_sigaction = on_trap;
  if (sigaction(SIGTRAP, &action, &g_previous_trap) != 0)
    return make_error(ErrorCode::internal, "sigaction(SIGTRAP)", std::strerror(errno));
  g_check_signal = sig;
  struct sigaction installed{};
  if (sigaction(sig, nullptr, &installed) == 0) g_restorer = reinterpret_cast<std::uintptr_t>(installed.sa_restorer);
  if (const long page = ::sysconf(_SC_PAGESIZE); page > 0) g_page = static_cast<std::size_t>(page);

  // HOTPATCH_SYNC=signals takes the path kernels without membarrier SYNC_CORE get (and tests it).
  const char* sync = std::getenv("HOTPATCH_SYNC");
  const bool signals_only = sync != nullptr && std::strcmp(sync, "signals") == 0;
  const long supported = signals_only ? 0 : syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0)
    g_membarrier.store(true);
  else
    log::info("membarrier SYNC_CORE unavailable; cores are synchronised with a signal round");
  g_installed = true;
  return {};
}

AckBoard* board_for(std::size_t threads) {
  AckBoard* board = g_board.load(std::memory_order_acquire);
  if (board != nullptr && board->capacity >= threads) return board;
  const std::size_t capacity = std::max<std::size_t>(64, threads * 2);
  void* mem = std::calloc(1, sizeof(AckBoard) + capacity * sizeof(std::atomic<std::uint64_t>));
  if (mem == nullptr) return nullptr;
  auto* fresh = static_cast<AckBoard*>(mem);
  fresh->capacity = capacity;
  if (board != nullptr) g_retired.push_back(board);
  g_board.store(fresh, std::memory_order_release);
  return fresh;
}

// True when the thread is blocked in the kernel with its user PC outside every entry being written,
// and no handler of its own it is inside returns into one (that one is signalled instead: the check
// signal's handler moves it).
bool blocked_outside_entries(int tid, bool catches_signals) {
  const auto c = blocked_user_context(tid);
  if (!c) return false;
  const SiteRecord* r = site_at_or_before(g_sites.load(std::memory_order_acquire), c->pc);
  if (r != nullptr && c->pc > r->site && c->pc < r->site + r->length) return false;
  return !catches_signals || nested_frames_in_entries(c->sp, false) == 0;
}

// Replaced tables are freed a minute later: a handler reads one for microseconds, but a thread can
// be descheduled in the middle of it.
std::vector<std::pair<const RegionTable*, std::chrono::steady_clock::time_point>>& g_retired_regions =
    *new std::vector<std::pair<const RegionTable*, std::chrono::steady_clock::time_point>>;

// Readable mappings from /proc/self/maps for the handlers to scan within, or none (nothing to scan
// for). The table is replaced only when the mappings changed.
void publish_regions(bool wanted) {
  g_scan_frames.store(false, std::memory_order_release);
  if (!wanted) return;
  std::vector<Region> found;
  if (FILE* f = std::fopen("/proc/self/maps", "re")) {
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      char* end = nullptr;
      const std::uintptr_t lo = std::strtoull(line, &end, 16);
      if (end == nullptr || *end != '-') continue;
      const std::uintptr_t hi = std::strtoull(end + 1, &end, 16);
      if (end == nullptr || end[0] != ' ' || end[1] != 'r') continue;
      found.push_back({lo, hi});
    }
    std::fclose(f);
  }
  const RegionTable* current = g_regions.load(std::memory_order_acquire);
  if (current != nullptr && current->count == found.size() &&
      std::equal(found.begin(), found.end(), current->regions,
                 [](const Region& a, const Region& b) { return a.lo == b.lo && a.hi == b.hi; })) {
    g_scan_frames.store(true, std::memory_order_release);
    return;
  }
  void* mem = std::calloc(1, sizeof(RegionTable) + found.size() * sizeof(Region));
  if (mem == nullptr) return;
  auto* t = static_cast<RegionTable*>(mem);
  t->count = found.size();
  std::copy(found.begin(), found.end(), t->regions);
  const auto now = std::chrono::steady_clock::now();
  if (const RegionTable* old = g_regions.exchange(t, std::memory_order_acq_rel)) g_retired_regions.emplace_back(old, now);
  std::erase_if(g_retired_regions, [&](const auto& r) {
    if (now - r.second < std::chrono::minutes(1)) return false;
    std::free(const_cast<RegionTable*>(r.first));
    return true;
  });
  g_scan_frames.store(true, std::memory_order_release);
}

// Whether the program handles any signal itself (SigCgt beyond the two signals hotpatch handles):
// only then can a thread be inside a handler of its own.
bool program_catches_signals() {
  const auto field = status_field(0, "SigCgt:");
  if (!field) return true;
  std::uint64_t mask = std::strtoull(field->c_str(), nullptr, 16);
  mask &= ~((1ull << (SIGTRAP - 1)) | (1ull << (g_check_signal - 1)));
  return mask != 0;
}

// A signal that is pending and not blocked is delivered before the thread executes another user
// instruction. membarrier interrupts every thread that is on a CPU right now, so after it returns,
// each signalled thread has either run the handler or will run it before any of its own code: it
// is safe without waiting for it to be scheduled (which, with more runnable threads than cores,
// takes whole time slices). Only threads that block the signal still need an answer.
void settle_pending_signals(AckBoard* board, const std::vector<int>& tids, std::uint64_t round,
                            std::vector<std::size_t>& pending, ThreadCheck& result) {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != 0) return;
  // Spin, don't yield: with more runnable threads than cores a yield gives the CPU away for a whole
  // time slice, and the temporary int3s stay in place (every caller trapping) that long.
  const auto brief = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
  while (!pending.empty() && std::chrono::steady_clock::now() < brief) {
    std::erase_if(pending, [&](std::size_t i) { return board->slots[i].load(std::memory_order_acquire) >= round; });
    __builtin_ia32_pause();
  }
  std::erase_if(pending, [&](std::size_t i) {
    if (board->slots[i].load(std::memory_order_acquire) >= round) return true;
    if (signal_blocked(tids[i], g_check_signal)) return false;
    ++result.deferred;
    return true;
  });
}

// Queues the check signal to a thread, tagged with the round and the thread's slot on the boards.
// Returns 0, or the errno of the failure.
int send_check_signal(pid_t pid, int tid, std::uint64_t round, std::size_t index) {
  siginfo_t info{};
  info.si_signo = g_check_signal;
  info.si_code = SI_QUEUE;
  info.si_pid = pid;
  info.si_uid = getuid();
  info.si_value.sival_ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>((round << 32) | index));
  return syscall(SYS_rt_tgsigqueueinfo, pid, tid, g_check_signal, &info) == 0 ? 0 : errno;
}

Result<ThreadCheck> run_round(std::chrono::milliseconds timeout, bool skip_blocked) {
  std::lock_guard lock(g_install_mutex);
  HOTPATCH_TRY(install_locked());
  const std::vector<int> tids = other_threads();
  AckBoard* board = board_for(tids.size());
  if (board == nullptr) return make_error(ErrorCode::internal, "thread check", "out of memory");
  const std::uint64_t round = g_rounds.fetch_add(1) + 1;
  ThreadCheck result;
  result.threads = tids.size();
  std::vector<std::size_t> pending;
  const pid_t pid = getpid();
  const bool catches_signals = !tids.empty() && program_catches_signals();
  publish_regions(catches_signals);
  for (std::size_t i = 0; i < tids.size(); ++i) {
    if (std::find(g_held_tids.begin(), g_held_tids.end(), tids[i]) != g_held_tids.end()) continue;
    if (skip_blocked && blocked_outside_entries(tids[i], catches_signals)) {
      ++result.blocked;
      continue;
    }
    if (const int err = send_check_signal(pid, tids[i], round, i); err != 0) {
      if (err == ESRCH) continue;  // exited: nothing to check
      return make_error(ErrorCode::threads_unresponsive, describe_thread(tids[i]),
                        std::string("cannot signal it for the safety check: ") + std::strerror(err));
    }
    ++result.signalled;
    pending.push_back(i);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!pending.empty() && g_membarrier.load()) settle_pending_signals(board, tids, round, pending, result);
  auto next_liveness_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  for (unsigned spins = 0; !pending.empty(); ++spins) {
    std::erase_if(pending, [&](std::size_t i) { return board->slots[i].load(std::memory_order_acquire) >= round; });
    if (pending.empty()) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_liveness_check) {
      std::erase_if(pending, [&](std::size_t i) { return !thread_exists(tids[i]); });
      next_liveness_check = now + std::chrono::milliseconds(1);
    }
    if (pending.empty()) break;
    if (now >= deadline) {
      std::string who;
      for (std::size_t k = 0; k < pending.size() && k < 4; ++k) who += (k ? ", " : "") + describe_thread(tids[pending[k]]);
      if (pending.size() > 4) who += " and " + std::to_string(pending.size() - 4) + " more";
      return make_error(ErrorCode::threads_unresponsive, who,
                        "did not answer the safety check within " + std::to_string(timeout.count()) +
                            " ms (signal " + std::to_string(g_check_signal) +
                            " blocked, or the thread is stopped); nothing was changed");
    }
    if (spins < 256) __builtin_ia32_pause();
    else std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return result;
}

}  // namespace

Status register_sites(std::span<const SiteRecord> sites) {
  std::lock_guard lock(g_install_mutex);
  HOTPATCH_TRY(install_locked());
  const SiteTable* old = g_sites.load(std::memory_order_acquire);
  std::vector<SiteRecord> all;
  if (old != nullptr) all.assign(old->records, old->records + old->count);
  bool added = false;
  for (const auto& s : sites) {
    const bool known = std::any_of(all.begin(), all.end(), [&](const SiteRecord& r) { return r.site == s.site; });
    if (!known) {
      all.push_back(s);
      added = true;
    }
  }
  if (!added) return {};
  std::sort(all.begin(), all.end(), [](const SiteRecord& a, const SiteRecord& b) { return a.site < b.site; });
  void* mem = std::malloc(sizeof(SiteTable) + all.size() * sizeof(SiteRecord));
  if (mem == nullptr) return make_error(ErrorCode::internal, "site table", "out of memory");
  auto* table = static_cast<SiteTable*>(mem);
  table->count = all.size();
  std::copy(all.begin(), all.end(), table->records);
  g_sites.store(table, std::memory_order_release);
  if (old != nullptr) g_retired.push_back(const_cast<SiteTable*>(old));
  return {};
}

Result<ThreadCheck> check_threads(std::chrono::milliseconds timeout) { return run_round(timeout, true); }

namespace {

bool in_ranges(std::span<const CodeRange> ranges, std::uintptr_t pc) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const CodeRange& r) { return pc >= r.lo && pc < r.hi; });
}

// A return address into the ranges anywhere in the sleeping thread's stack above `sp`.
std::optional<std::uintptr_t> return_address_into(std::span<const CodeRange> ranges, std::uintptr_t sp) {
  static thread_local std::vector<std::uintptr_t> buf;
  const std::size_t n = read_stack_copy(sp & ~std::uintptr_t{7}, buf);
  for (std::size_t i = 0; i < n / 8; ++i)
    if (buf[i] != 0 && in_ranges(ranges, buf[i] - 1)) return buf[i];  // returns follow their call
  return std::nullopt;
}

ProbeBoard* probe_board_for(std::size_t threads) {
  ProbeBoard* board = g_probe_board.load(std::memory_order_acquire);
  if (board != nullptr && board->capacity >= threads) return board;
  const std::size_t capacity = std::max<std::size_t>(64, threads * 2);
  void* mem = std::calloc(1, sizeof(ProbeBoard) + capacity * sizeof(ProbeAnswer));
  if (mem == nullptr) return nullptr;
  auto* fresh = static_cast<ProbeBoard*>(mem);
  fresh->capacity = capacity;
  if (board != nullptr) g_retired.push_back(board);
  g_probe_board.store(fresh, std::memory_order_release);
  return fresh;
}

}  // namespace

Result<std::optional<StackFinding>> probe_stacks(StackProbe probe, std::span<const CodeRange> ranges,
                                                  std::chrono::milliseconds timeout) {
  std::lock_guard lock(g_install_mutex);
  HOTPATCH_TRY(install_locked());
  const std::vector<int> tids = other_threads();
  AckBoard* board = board_for(tids.size());
  ProbeBoard* answers = probe_board_for(tids.size());
  if (board == nullptr || answers == nullptr) return make_error(ErrorCode::internal, "stack check", "out of memory");
  const std::uint64_t round = g_rounds.fetch_add(1) + 1;
  for (std::size_t i = 0; i < tids.size(); ++i) answers->answers[i].frame.store(-1, std::memory_order_relaxed);
  g_probe.store(probe, std::memory_order_release);
  g_probe_round.store(round, std::memory_order_release);
  struct Reset {
    ~Reset() { g_probe_round.store(0, std::memory_order_release); }
  } reset;
  std::optional<StackFinding> found;
  std::vector<std::size_t> pending;
  const pid_t pid = getpid();
  for (std::size_t i = 0; i < tids.size() && !found; ++i) {
    if (std::find(g_held_tids.begin(), g_held_tids.end(), tids[i]) != g_held_tids.end()) continue;
    if (const auto c = blocked_user_context(tids[i])) {
      if (in_ranges(ranges, c->pc)) found = StackFinding{tids[i], 0, c->pc, false};
      else if (auto ret = return_address_into(ranges, c->sp)) found = StackFinding{tids[i], 1, *ret, true};
      continue;
    }
    if (const int err = send_check_signal(pid, tids[i], round, i); err != 0) {
      if (err == ESRCH) continue;
      return make_error(ErrorCode::threads_unresponsive, describe_thread(tids[i]),
                        std::string("cannot signal it for the stack check: ") + std::strerror(err));
    }
    pending.push_back(i);
  }
  // Every signalled thread must really answer: its answer is its stack, not just its PC.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto next_liveness_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  for (unsigned spins = 0; !pending.empty(); ++spins) {
    std::erase_if(pending, [&](std::size_t i) { return board->slots[i].load(std::memory_order_acquire) >= round; });
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_liveness_check) {
      std::erase_if(pending, [&](std::size_t i) { return !thread_exists(tids[i]); });
      next_liveness_check = now + std::chrono::milliseconds(1);
    }
    if (pending.empty()) break;
    if (now >= deadline)
      return make_error(ErrorCode::threads_unresponsive, describe_thread(tids[pending.front()]),
                        "did not answer the stack check within " + std::to_string(timeout.count()) + " ms (signal " +
                            std::to_string(g_check_signal) + " blocked, or the thread is stopped)");
    if (spins < 256) __builtin_ia32_pause();
    else std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  if (found) return found;
  for (std::size_t i = 0; i < tids.size(); ++i) {
    const int frame = answers->answers[i].frame.load(std::memory_order_acquire);
    if (frame == -2)
      return make_error(ErrorCode::function_in_use, describe_thread(tids[i]),
                        "its stack could not be walked, so it cannot be shown to be outside the replaced functions");
    if (frame >= 0) return std::optional<StackFinding>{StackFinding{tids[i], frame, answers->answers[i].pc.load(), false}};
  }
  return std::optional<StackFinding>{};
}

Status prepare_sync_cores() {
  std::lock_guard lock(g_install_mutex);
  return install_locked();
}

Status sync_cores(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(g_install_mutex);
    HOTPATCH_TRY(install_locked());
  }
  if (g_membarrier.load()) {
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0) return {};
    log::warning(std::string("membarrier SYNC_CORE failed, using a signal round: ") + std::strerror(errno));
    g_membarrier.store(false);
  }
  // Every thread, blocked ones too: a return through sysret is not architecturally serialising.
  auto r = run_round(timeout, false);
  if (!r) return r.error();
  return {};
}

// A handler installed after ours (a crash reporter, a language runtime) would receive the int3 of
// a caller that meets a site mid-write: a crash dump, or the default action killing the process.
Status trap_handler_is_ours_locked() {
  struct sigaction cur{};
  if (sigaction(SIGTRAP, nullptr, &cur) != 0) return make_error(ErrorCode::internal, "sigaction(SIGTRAP)", std::strerror(errno));
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_trap) return {};
  std::string now;
  const void* fn = (cur.sa_flags & SA_SIGINFO) ? reinterpret_cast<const void*>(cur.sa_sigaction)
                                               : reinterpret_cast<const void*>(cur.sa_handler);
  if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
    now = "the default action, which kills the process";
  } else if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) {
    now = "ignored, which the kernel turns into killing the process for a trap";
  } else {
    char at[32];
    std::snprintf(at, sizeof at, "%p", fn);
    now = std::string("a handler at ") + at;
    // Not dladdr: it takes the loader's lock, and this runs while module unloads are held.
    if (auto in = segment_containing(reinterpret_cast<std::uintptr_t>(fn))) now += " in " + in->path;
  }
  return make_error(ErrorCode::unsafe_threads, "SIGTRAP",
                    "the handler hotpatch installed was replaced; it is now " + now +
                        ". A caller that meets a temporary int3 would reach it, so nothing was written. Install "
                        "that handler before the first patch, or have it chain to the one it replaced");
}

Result<ThreadHold> hold_unreachable_threads(std::chrono::milliseconds timeout) {
  std::lock_guard lock(g_install_mutex);
  HOTPATCH_TRY(install_locked());
  HOTPATCH_TRY(trap_handler_is_ours_locked());
  const auto reasons = threads_to_hold(g_check_signal);
  if (reasons.empty()) return ThreadHold{};
  const std::uint64_t unblock = (1ull << (SIGTRAP - 1)) | (1ull << (g_check_signal - 1));
  auto hold = ThreadHold::stop(reasons, unblock, timeout);
  if (!hold) {
    Error e = hold.error();
    for (const auto& r : reasons) {
      if (describe_thread(r.tid) != e.subject) continue;
      char mask[32];
      std::snprintf(mask, sizeof mask, "%016llx", static_cast<unsigned long long>(r.blocked));
      const std::string blocks =
          r.blocks_trap ? "blocks SIGTRAP (SigBlk " + std::string(mask) +
                              "): a temporary int3 it ran into would make the kernel kill the process, "
                        : "blocks the check signal " + std::to_string(g_check_signal) + " (SigBlk " + mask +
                              ") while running: it cannot be asked where it stands, ";
      e.message = blocks + "and it " + e.message + "; nothing was written";
      break;
    }
    return e;
  }
  g_held_tids = hold->held();
  g_held.fetch_add(g_held_tids.size(), std::memory_order_relaxed);
  return hold;
}

void release_held_threads(ThreadHold& hold) {
  {
    std::lock_guard lock(g_install_mutex);
    g_held_tids.clear();
  }
  auto moved = hold.release(relocated_pc, [](std::uintptr_t sp) { return nested_frames_in_entries(sp, true); });
  if (!moved) log::warning(moved.error().what());
  else g_relocated.fetch_add(*moved, std::memory_order_relaxed);
}

SafetyCounters safety_counters() {
  return {g_rounds.load(), g_relocated.load(), g_trap_redirects.load(), g_held.load()};
}

}  // namespace hotpatch::os
