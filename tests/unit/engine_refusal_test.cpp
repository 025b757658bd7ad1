// Every refusal a user can hit: the message says what and why, and the old code keeps running.
#include "engine_test_support.hpp"
#include "targets.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <cstddef>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace hptest;
using hotpatch::ErrorCode;
using ::testing::HasSubstr;

namespace {

void expect_unpatched() {
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_EQ(hp_c_twice(3), 6);
  EXPECT_EQ(hp_tiny(4), 4);
  EXPECT_EQ(hp_split_entry(1), 2);
  EXPECT_EQ(hp_loop_entry(3), 6);
  EXPECT_EQ(hp_call_entry(1), 2);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

TEST_F(EngineTest, UnknownSymbol) {
  const auto msg = apply_fails(patch_path("missing_symbol"), ErrorCode::symbol_not_found);
  EXPECT_THAT(msg, HasSubstr("hp_does_not_exist"));
  EXPECT_THAT(msg, HasSubstr("no function of that name in engine_tests"));
  expect_unpatched();
}

TEST_F(EngineTest, UnknownImport) {
  const auto msg = apply_fails(patch_path("missing_import"), ErrorCode::symbol_not_found);
  EXPECT_THAT(msg, HasSubstr("hp_no_such_variable"));
  expect_unpatched();
}

TEST_F(EngineTest, ThirdTargetTooShortChangesNothing) {
  const auto add = code_bytes(&hp_c_add), twice = code_bytes(&hp_c_twice);
  const auto msg = apply_fails(patch_path("three_last_bad"), ErrorCode::not_patchable);
  EXPECT_THAT(msg, HasSubstr("hp_tiny"));
  EXPECT_THAT(msg, HasSubstr("too short"));
  EXPECT_THAT(msg, HasSubstr("not in any vtable"));
  EXPECT_EQ(code_bytes(&hp_c_add), add);
  EXPECT_EQ(code_bytes(&hp_c_twice), twice);
  expect_unpatched();
}

TEST_F(EngineTest, BranchIntoOverwrittenBytes) {
  const auto msg = apply_fails(patch_path("loop_entry"), ErrorCode::not_patchable);
  EXPECT_THAT(msg, HasSubstr("the branch at +7 jumps to +2, inside the 7 bytes the entry jump overwrites"));
  expect_unpatched();
}

TEST_F(EngineTest, CallInsideOverwrittenBytes) {
  const auto msg = apply_fails(patch_path("call_entry"), ErrorCode::not_patchable);
  EXPECT_THAT(msg, HasSubstr("a call at +1"));
  expect_unpatched();
}

TEST_F(EngineTest, WrongBuild) {
  const auto msg = apply_fails(patch_path("wrong_build"), ErrorCode::wrong_build);
  EXPECT_THAT(msg, HasSubstr("built for hp_other_program"));
  EXPECT_THAT(msg, HasSubstr("not loaded in this process"));
  expect_unpatched();
}

TEST_F(EngineTest, VersionNotHigher) {
  apply_ok("c_add_v2");
  auto msg = apply_fails(patch_path("c_add_v1"), ErrorCode::version_not_newer);
  EXPECT_THAT(msg, HasSubstr("'hp_c_add' is at version 2 (patch 'c-add'); version 1 is not higher"));
  revert_ok("c-add");
  apply_ok("c_add_v1");
  msg = apply_fails(patch_path("c_add_rival_v1"), ErrorCode::version_not_newer);
  EXPECT_THAT(msg, HasSubstr("is at version 1"));
  msg = apply_fails(patch_path("c_add_v1"), ErrorCode::already_applied);
  EXPECT_THAT(msg, HasSubstr("patch 'c-add' v1: is already applied"));
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");
}

TEST_F(EngineTest, MalformedPatchObjects) {
  auto msg = apply_fails(HP_PLAIN_LIBRARY, ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("has no .hotpatch section"));
  msg = apply_fails(HP_NOT_ELF, ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("not an ELF file"));
  msg = apply_fails(patch_path("no_target"), ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("no HOTPATCH_TARGET record"));
  msg = apply_fails("/nonexistent/patch.so", ErrorCode::io);
  EXPECT_THAT(msg, HasSubstr("cannot open"));
  msg = apply_fails("", ErrorCode::invalid_argument);
  EXPECT_THAT(msg, HasSubstr("no patch file given"));
  expect_unpatched();
}

TEST_F(EngineTest, RevertOfAPatchNotApplied) {
  auto r = hotpatch::revert_patch("never-applied");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::not_applied);
  EXPECT_EQ(r.error().what(), "patch 'never-applied': is not applied");
}

// A thread that blocks the check signal while it runs can't be checked: the apply must fail in
// time, name the thread, and leave the code as it was.
// A thread that blocks every signal and keeps running: an int3 would kill the process and the
// check round cannot ask it where it is. It is stopped for the write instead, and the apply works.
TEST_F(EngineTest, ThreadBlockingEverySignalIsHeldForTheWrite) {
  std::atomic<bool> ready{false}, stop{false};
  std::atomic<long> calls{0};
  std::thread spinner([&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    ready = true;
    for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      const int r = hp_split_entry(i);
      if (r != i + 1 && r != i + 100) std::abort();
      calls.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (!ready) std::this_thread::yield();
  const auto before = hotpatch::engine_stats();
  apply_ok("split_entry");
  EXPECT_EQ(hp_split_entry(1), 101);
  revert_ok("split-entry");
  const auto after = hotpatch::engine_stats();
  stop = true;
  spinner.join();
  EXPECT_GE(after.threads_held - before.threads_held, 2u) << "the spinner was not held for the apply and the revert";
  EXPECT_GT(calls.load(), 0);
  expect_unpatched();
}

// Where the thread cannot be stopped (here a seccomp filter denies ptrace, as systemd's
// SystemCallFilter can), the apply is refused before anything is written, naming the thread, what
// it blocks and why it cannot be stopped. Runs in a child process (seccomp is one-way).
TEST_F(EngineTest, SignalBlockingThreadThatCannotBeStoppedRefusesTheApplyBeforeAnyWrite) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in the child of a multi-threaded fork";
#endif
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::atomic<bool> ready{false}, stop{false};
    std::thread blocker([&] {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      pthread_setname_np(pthread_self(), "hp-blocker");
      ready = true;
      while (!stop.load(std::memory_order_relaxed)) (void)hp_split_entry(1);
    });
    while (!ready) std::this_thread::yield();
    int code = 0;
    if (!hptest::deny_syscall(__NR_ptrace, EPERM)) code = 10;
    std::string msg;
    if (code == 0) {
      auto r = hotpatch::apply_patch_file(patch_path("split_entry"));
      if (r.has_value()) code = 11;
      else if (r.error().code != ErrorCode::unsafe_threads) code = 12;
      else msg = r.error().what();
    }
    stop = true;
    blocker.join();
    if (code == 0) {
      for (const char* part : {"(hp-blocker): blocks SIGTRAP (SigBlk ", "the kernel kill the process",
                               "cannot be stopped for the write: ptrace(PTRACE_SEIZE): Operation not permitted",
                               "a seccomp filter is installed", "nothing was written"})
        if (msg.find(part) == std::string::npos) {
          std::fprintf(stderr, "message lacks '%s': %s\n", part, msg.c_str());
          code = 13;
        }
    }
    if (code == 0 && (hp_split_entry(1) != 2 || !hotpatch::patch_table().empty())) code = 14;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 seccomp setup, 11 applied, 12 wrong code, 13 message, 14 code changed";
  expect_unpatched();
}

// A crash reporter installed after hotpatch took SIGTRAP over: a caller meeting the temporary
// int3 would reach it. Refused before anything is written, naming the handler; once the
// program's handler is gone again, applies work.
namespace {
void reporter_on_trap(int) { std::abort(); }
}  // namespace

TEST_F(EngineTest, SigtrapHandlerInstalledLaterRefusesTheWriteAndNamesIt) {
  apply_ok("c_add_v1");  // hotpatch's handler is installed by now
  revert_ok("c-add");
  struct sigaction reporter{}, ours{};
  reporter.sa_handler = reporter_on_trap;
  sigemptyset(&reporter.sa_mask);
  ASSERT_EQ(sigaction(SIGTRAP, &reporter, &ours), 0);
  const auto msg = apply_fails(patch_path("c_add_v1"), ErrorCode::unsafe_threads);
  ASSERT_EQ(sigaction(SIGTRAP, &ours, nullptr), 0);
  EXPECT_THAT(msg, HasSubstr("SIGTRAP: the handler hotpatch installed was replaced; it is now a handler at 0x"));
  EXPECT_THAT(msg, HasSubstr("/engine_tests. "));  // the module the handler lives in
  EXPECT_THAT(msg, HasSubstr("so nothing was written"));
  expect_unpatched();
  apply_ok("c_add_v1");
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");
}

// A policy that forbids writing code (here seccomp, like SELinux execmod or a hardened kernel):
// the apply reports it and the process keeps running unpatched. Runs in a child process.
TEST_F(EngineTest, DeniedCodeWriteIsReportedAndChangesNothing) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pwrite64, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_WRITE, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(10);
    auto r = hotpatch::apply_patch_file(patch_path("c_add_v1"));
    if (r.has_value()) _exit(11);
    if (r.error().code != ErrorCode::write_denied) _exit(12);
    const std::string msg = r.error().what();
    if (msg.find("writing code was denied by the kernel or a security policy") == std::string::npos) _exit(13);
    const bool forced_mprotect = getenv("HOTPATCH_CODE_WRITE") != nullptr;
    if (!forced_mprotect && msg.find("pwrite(/proc/self/mem): Operation not permitted") == std::string::npos) _exit(14);
    if (msg.find("mprotect(PROT_WRITE|PROT_EXEC): Permission denied") == std::string::npos) _exit(15);
    if (hp_c_add(1) != 2 || !hotpatch::patch_table().empty()) _exit(16);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 seccomp setup, 11 applied, 12 wrong code, 13-15 message, 16 code changed";
  expect_unpatched();
}

}  // namespace
