// Functions with a compiler-placed entry pad are redirected through it: the pad takes the long
// jump, the two entry NOPs become a short jump one byte at a time. No caller traps, no thread is
// checked or stopped, and the entry's bytes come back exactly on revert.
#include "engine_test_support.hpp"
#include "pad_targets.h"
#include "stress_env.hpp"

#include <atomic>
#include <csignal>
#include <cstddef>
#include <functional>
#include <cstdio>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using hotpatch::ErrorCode;
using hptest::apply_ok;
using hptest::EngineTest;
using hptest::patch_path;
using hptest::revert_ok;

using Bytes = std::vector<std::uint8_t>;

template <class F>
std::uintptr_t address_of(F* f) {
  return reinterpret_cast<std::uintptr_t>(f);
}

Bytes bytes_at(std::uintptr_t at, std::size_t n) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(at);
  return Bytes(p, p + n);
}

// Counters that show which protocol ran: the int3 one leaves traces in all but pad_writes.
struct Delta {
  hotpatch::EngineStats before = hotpatch::engine_stats();
  std::uint64_t pad_writes() const { return hotpatch::engine_stats().pad_writes - before.pad_writes; }
  std::uint64_t code_writes() const { return hotpatch::engine_stats().code_writes - before.code_writes; }
  std::uint64_t traps() const { return hotpatch::engine_stats().trap_redirects - before.trap_redirects; }
  std::uint64_t rounds() const { return hotpatch::engine_stats().safety_rounds - before.safety_rounds; }
  std::uint64_t held() const { return hotpatch::engine_stats().threads_held - before.threads_held; }
};

constexpr std::uint8_t kNop = 0x90;

TEST_F(EngineTest, PaddedFunctionIsRedirectedThroughItsPadAndItsEntryRestoredExactly) {
  const auto f = address_of(hp_pad_add);
  const Bytes entry = bytes_at(f, 16);
  ASSERT_EQ(bytes_at(f - 5, 5), Bytes(5, kNop)) << "g++ placed no pad before hp_pad_add";
  ASSERT_EQ(entry[0], kNop);
  ASSERT_EQ(entry[1], kNop);
  Delta d;
  for (int round = 0; round < 2; ++round) {
    apply_ok("pad_add");
    EXPECT_EQ(hp_pad_add(1), 101);
    EXPECT_EQ(bytes_at(f, 2), (Bytes{0xEB, 0xF9})) << "a short jump back to the pad";
    EXPECT_EQ(bytes_at(f - 5, 1), Bytes{0xE9}) << "the pad holds the jump to the thunk";
    EXPECT_EQ(bytes_at(f + 2, 14), Bytes(entry.begin() + 2, entry.end())) << "the body is not touched";
    revert_ok("pad-add");
    EXPECT_EQ(hp_pad_add(1), 2);
    EXPECT_EQ(bytes_at(f, 16), entry);
    // The pad keeps its jump: a caller may stand on it (see pad_writer.cpp). Nothing leads there.
    EXPECT_EQ(bytes_at(f - 5, 1), Bytes{0xE9});
  }
  EXPECT_EQ(d.pad_writes(), 4u);
  EXPECT_EQ(d.code_writes(), 4u);
  EXPECT_EQ(d.traps(), 0u);
  EXPECT_EQ(d.rounds(), 0u);
  EXPECT_EQ(d.held(), 0u);
}

// With -fcf-protection the entry NOPs follow the endbr64; the short jump reaches back over it
// (EB F5, whose displacement byte alone runs as cmc).
TEST_F(EngineTest, PaddedFunctionAfterEndbr64JumpsBackOverIt) {
  const auto f = address_of(hp_pad_cet_add);
  const Bytes entry = bytes_at(f, 16);
  ASSERT_EQ(entry[0], 0xF3) << "no endbr64: was pad_targets_cet.c built with -fcf-protection?";
  ASSERT_EQ(entry[4], kNop);
  ASSERT_EQ(entry[5], kNop);
  Delta d;
  apply_ok("pad_cet");
  EXPECT_EQ(hp_pad_cet_add(1), 101);
  EXPECT_EQ(bytes_at(f, 4), Bytes(entry.begin(), entry.begin() + 4)) << "the endbr64 stays";
  EXPECT_EQ(bytes_at(f + 4, 2), (Bytes{0xEB, 0xF5}));
  revert_ok("pad-cet");
  EXPECT_EQ(hp_pad_cet_add(1), 2);
  EXPECT_EQ(bytes_at(f, 16), entry);
  EXPECT_EQ(d.pad_writes(), 2u);
  EXPECT_EQ(d.traps(), 0u);
}

// clang's entry is one two-byte NOP (66 90): it first becomes 90 90 (one byte), then the same walk.
TEST_F(EngineTest, TwoByteNopEntryOfClangIsTakenAndRestored) {
  const auto f = address_of(hp_pad_xchg);
  const Bytes entry = bytes_at(f, 8);
  ASSERT_EQ(entry[0], 0x66);
  Delta d;
  apply_ok("pad_xchg");
  EXPECT_EQ(hp_pad_xchg(1), 101);
  EXPECT_EQ(bytes_at(f, 2), (Bytes{0xEB, 0xF9}));
  revert_ok("pad-xchg");
  EXPECT_EQ(hp_pad_xchg(1), 2);
  EXPECT_EQ(bytes_at(f, 8), entry);
  EXPECT_EQ(d.pad_writes(), 2u);
  EXPECT_EQ(d.traps(), 0u);
}

// A caller preempted between the two entry bytes runs, once the short jump is in, its second byte
// alone (stc, or cmc after an endbr64) and then the old body: the old version, whole.
TEST_F(EngineTest, CallerBetweenTheEntryBytesRunsTheOldBodyWhole) {
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(hp_pad_add_from_second_byte(1), 2);
    EXPECT_EQ(hp_pad_cet_add_from_second_byte(1), 2);
    apply_ok("pad_add");
    apply_ok("pad_cet");
    apply_ok("pad_xchg");
    ASSERT_EQ(hp_pad_add(1), 101);
    ASSERT_EQ(hp_pad_cet_add(1), 101);
    ASSERT_EQ(hp_pad_xchg(1), 101);
    EXPECT_EQ(hp_pad_add_from_second_byte(1), 2);
    EXPECT_EQ(hp_pad_cet_add_from_second_byte(1), 2);
    EXPECT_EQ(hp_pad_xchg_from_second_byte(1), 2);
    revert_ok("pad-add");
    revert_ok("pad-cet");
    revert_ok("pad-xchg");
  }
}

// A listed pad that holds someone else's jump, and NOPs no compiler listed: neither is used; both
// functions take the int3 protocol and their surroundings stay as they were.
TEST_F(EngineTest, PadThatIsNotNopsOrNotListedIsNotUsed) {
  const auto foreign = address_of(hp_pad_foreign), unlisted = address_of(hp_pad_unlisted);
  const Bytes foreign_around = bytes_at(foreign - 5, 16), unlisted_around = bytes_at(unlisted - 5, 16);
  Delta d;
  apply_ok("pad_lookalikes");
  EXPECT_EQ(hp_pad_foreign(1), 101);
  EXPECT_EQ(hp_pad_unlisted(1), 101);
  EXPECT_EQ(bytes_at(foreign, 1), Bytes{0xE9}) << "an entry jump, not a short one";
  EXPECT_EQ(bytes_at(unlisted, 1), Bytes{0xE9});
  EXPECT_EQ(bytes_at(foreign - 5, 5), Bytes(foreign_around.begin(), foreign_around.begin() + 5));
  EXPECT_EQ(bytes_at(unlisted - 5, 5), Bytes(unlisted_around.begin(), unlisted_around.begin() + 5));
  revert_ok("pad-lookalikes");
  EXPECT_EQ(bytes_at(foreign - 5, 16), foreign_around);
  EXPECT_EQ(bytes_at(unlisted - 5, 16), unlisted_around);
  EXPECT_EQ(d.pad_writes(), 0u);
  EXPECT_EQ(d.code_writes(), 4u);
}

TEST_F(EngineTest, MixedSetTakesBothProtocolsInOneTransaction) {
  const auto padded = address_of(hp_pad_add), plain = address_of(hp_pad_plain_add);
  const Bytes padded_entry = bytes_at(padded, 16), plain_entry = bytes_at(plain, 16);
  Delta d;
  apply_ok("pad_mixed");
  EXPECT_EQ(hp_pad_add(1), 101);
  EXPECT_EQ(hp_pad_plain_add(1), 101);
  EXPECT_EQ(bytes_at(padded, 1), Bytes{0xEB});
  EXPECT_EQ(bytes_at(plain, 1), Bytes{0xE9});
  revert_ok("pad-mixed");
  EXPECT_EQ(hp_pad_add(1), 2);
  EXPECT_EQ(hp_pad_plain_add(1), 2);
  EXPECT_EQ(bytes_at(padded, 16), padded_entry);
  EXPECT_EQ(bytes_at(plain, 16), plain_entry);
  EXPECT_EQ(d.pad_writes(), 2u);
  EXPECT_EQ(d.code_writes(), 4u);
}

// A seccomp filter denying ptrace, as systemd's SystemCallFilter can: a thread that blocks every
// signal can then not be stopped. Runs `body` in a child process (seccomp is one-way) with such a
// thread calling `call`; returns the child's exit code (0: body passed).
int in_child_with_unstoppable_caller(int (*call)(int), const std::function<int()>& body) {
  const pid_t child = fork();
  if (child < 0) return 100;
  if (child == 0) {
    std::atomic<bool> ready{false}, stop{false};
    std::atomic<long> wrong{0};
    std::thread caller([&] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      pthread_setname_np(pthread_self(), "hp-blocker");
      ready = true;
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const int r = call(i);
        wrong += r != i + 1 && r != i + 100;
      }
    });
    while (!ready) std::this_thread::yield();
    int code = 0;
    if (!hptest::deny_syscall(__NR_ptrace, EPERM)) code = 10;
    if (code == 0) code = body();
    stop = true;
    caller.join();
    if (code == 0 && wrong.load() != 0) code = 20;
    _exit(code);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child) return 101;
  if (!WIFEXITED(status)) return 200 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// The thread could not be held (and an int3 would kill the process), yet the padded function is
// applied and reverted under it again and again: the pad protocol needs no hold.
TEST_F(EngineTest, PaddedApplyNeedsNoThreadHoldForASignalBlockingCaller) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in the child of a multi-threaded fork";
#endif
  const int code = in_child_with_unstoppable_caller(hp_pad_add, [] {
    Delta d;
    for (int i = 0; i < 200; ++i) {
      if (!hotpatch::apply_patch_file(patch_path("pad_add"))) return 11;
      if (!hotpatch::revert_patch("pad-add")) return 12;
    }
    if (d.held() != 0 || d.traps() != 0 || d.rounds() != 0) return 13;
    if (d.pad_writes() != 400) return 14;
    return 0;
  });
  EXPECT_EQ(code, 0) << "10 seccomp setup, 11 apply failed, 12 revert failed, 13 held/trapped/round, "
                        "14 not through the pad, 20 wrong result, 200+ killed by that signal";
}

// All or nothing: the unpadded half cannot be written safely (its caller can be neither trapped
// nor stopped), so the padded half, written first, is taken back out to the very byte.
TEST_F(EngineTest, MixedSetRefusedByTheInt3HalfLeavesThePaddedHalfAsItWas) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in the child of a multi-threaded fork";
#endif
  const int code = in_child_with_unstoppable_caller(hp_pad_plain_add, [] {
    const auto padded = address_of(hp_pad_add), plain = address_of(hp_pad_plain_add);
    const Bytes padded_around = bytes_at(padded - 5, 21), plain_entry = bytes_at(plain, 16);
    auto r = hotpatch::apply_patch_file(patch_path("pad_mixed"));
    if (r.has_value()) return 11;
    if (r.error().code != ErrorCode::unsafe_threads) return 12;
    if (bytes_at(padded - 5, 21) != padded_around || bytes_at(plain, 16) != plain_entry) return 13;
    if (hp_pad_add(1) != 2 || !hotpatch::patch_table().empty()) return 14;
    return 0;
  });
  EXPECT_EQ(code, 0) << "10 seccomp setup, 11 applied, 12 wrong error, 13 bytes changed, 14 still patched, "
                        "20 wrong result, 200+ killed by that signal";
}

// Hot callers of padded functions (one with an endbr64, one with clang's 66 90) while apply/revert cycles run: every result
// is the old or the new version's, and nothing ever traps, is checked or stopped.
TEST(PadEntryStress, HotCallersNeverTrap) {
  const int cycles = hptest::env_int("HP_STRESS_CYCLES", 1000);
  const int callers = hptest::env_int("HP_STRESS_CALLERS", 2);
  hotpatch::set_log_sink({});
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<long> calls{0}, wrong{0}, saw_new{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      long c = 0, w = 0, n = 0;
      // i stays small: a hot caller makes billions of calls, and i + 100 must not overflow.
      for (int i = t; !stop.load(std::memory_order_relaxed); i = (i + 3) % (1 << 24)) {
        const int a = hp_pad_add(i);
        const int b = hp_pad_cet_add(i);
        const int x = hp_pad_xchg(i);
        w += (a != i + 1 && a != i + 100) + (b != i + 1 && b != i + 100) + (x != i + 1 && x != i + 100);
        n += a == i + 100;
        c += 3;
      }
      calls += c;
      wrong += w;
      saw_new += n;
    });
  }
  while (ready.load() < callers) std::this_thread::yield();
  Delta d;
  int failures = 0;
  std::string first_failure;
  auto note = [&](const hotpatch::Status& s) {
    if (!s && failures++ == 0) first_failure = s.error().what();
  };
  for (int i = 0; i < cycles; ++i) {
    for (const char* patch : {"pad_add", "pad_cet", "pad_xchg"}) {
      auto r = hotpatch::apply_patch_file(patch_path(patch));
      note(r ? hotpatch::Status{} : hotpatch::Status{r.error()});
    }
    for (const char* id : {"pad-add", "pad-cet", "pad-xchg"}) note(hotpatch::revert_patch(id));
  }
  stop = true;
  for (auto& t : threads) t.join();
  std::printf("cycles=%d callers=%d calls=%ld wrong=%ld new_results=%ld traps=%llu rounds=%llu held=%llu\n", cycles,
              callers, calls.load(), wrong.load(), saw_new.load(), static_cast<unsigned long long>(d.traps()),
              static_cast<unsigned long long>(d.rounds()), static_cast<unsigned long long>(d.held()));
  EXPECT_EQ(failures, 0) << first_failure;
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(saw_new.load(), 0) << "the callers never ran the new version";
  EXPECT_EQ(d.pad_writes(), 6u * static_cast<std::uint64_t>(cycles));
  EXPECT_EQ(d.traps(), 0u);
  EXPECT_EQ(d.rounds(), 0u);
  EXPECT_EQ(d.held(), 0u);
}

}  // namespace
