// A thread standing inside the bytes the jump overwrites is moved to the relocated copy of them and
// finishes the old version there. Made deterministic with a thread blocked in a syscall at +2.
#include "engine_test_support.hpp"
#include "targets.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <thread>

using namespace hptest;

namespace {

TEST_F(EngineTest, ThreadInsideOverwrittenBytesFinishesTheOldVersion) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  char byte = 0;
  const auto before = hotpatch::engine_stats();
  std::atomic<long> reader_tid{0};
  auto reader = std::async(std::launch::async, [&] {
    reader_tid = syscall(SYS_gettid);
    return hp_blocking_entry(fds[0], reinterpret_cast<long>(&byte), 1, SYS_read);
  });
  // Wait until the reader is blocked in read() (syscall 0) inside hp_blocking_entry.
  bool blocked = false;
  for (int i = 0; i < 5000 && !blocked; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (reader_tid == 0) continue;
    std::ifstream state("/proc/self/task/" + std::to_string(reader_tid.load()) + "/syscall");
    std::string nr;
    blocked = (state >> nr) && nr == "0";
  }
  ASSERT_TRUE(blocked) << "the reader never blocked in read()";

  apply_ok("blocking_entry");
  // The signalled reader may not have been scheduled yet when the apply returns (it was blocked, so
  // it is safe: it runs the handler before any of its own code); give it the time to.
  auto after = hotpatch::engine_stats();
  for (int i = 0; i < 5000 && after.threads_relocated == before.threads_relocated; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    after = hotpatch::engine_stats();
  }
  EXPECT_EQ(after.threads_relocated - before.threads_relocated, 1u) << "the blocked caller had to be moved";
  EXPECT_EQ(hp_blocking_entry(0, 0, 0, SYS_getpid), -1000) << "new calls run the patch";

  ASSERT_EQ(write(fds[1], "x", 1), 1);
  EXPECT_EQ(reader.get(), 1) << "the moved caller completes its read() in the old version";
  EXPECT_EQ(byte, 'x');
  revert_ok("blocking-entry");
  EXPECT_EQ(hp_blocking_entry(0, 0, 0, SYS_getpid), getpid());
  close(fds[0]);
  close(fds[1]);
}

}  // namespace

namespace {

// fork() while another thread is in the middle of an apply must leave the child a usable engine
// (a child inheriting a locked engine or log mutex would hang on its first call).
TEST_F(EngineTest, ForkDuringApplyLeavesTheChildUsable) {
  std::atomic<bool> stop{false};
  std::thread patcher([&] {
    while (!stop) {
      if (hotpatch::apply_patch_file(patch_path("c_add_v1"))) (void)hotpatch::revert_patch("c-add");
      // A pause, as between real applies: in a tight loop the patcher retakes the (unfair) engine
      // mutex before fork's prepare handler gets it, and each fork waits for hundreds of cycles.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  int hung = 0, failed = 0;
  for (int i = 0; i < 100; ++i) {
    const pid_t child = fork();
    if (child == 0) {
      alarm(5);  // a deadlocked child dies of SIGALRM
      const auto rows = hotpatch::patch_table();
      auto r = hotpatch::revert_patch("never-applied");
      _exit(rows.size() <= 1 && !r.has_value() ? 0 : 3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) ++hung;
    else if (WEXITSTATUS(status) != 0) ++failed;
  }
  stop = true;
  patcher.join();
  EXPECT_EQ(hung, 0);
  EXPECT_EQ(failed, 0);
}

}  // namespace
