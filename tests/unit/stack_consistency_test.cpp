// HOTPATCH_CONSISTENCY(stack): the patch switches only when no thread has a replaced function on
// its stack. A thread parked one frame below a replaced function (running) and one asleep in read()
// called from one keep it from being applied until they leave; past the deadline the apply is
// refused, naming the thread and the frame, with nothing written.
#include <hotpatch/runtime.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "targets.h"

#include <atomic>
#include <csignal>
#include <pthread.h>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

using ::testing::HasSubstr;
const std::string patch = std::string(HP_PATCH_DIR) + "/stack_outer.so";

// True once the thread is blocked in read() (system call 0 in /proc/self/task/<tid>/syscall).
bool asleep_in_read(std::atomic<pid_t>& tid) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (tid != 0) {
      std::ifstream in("/proc/self/task/" + std::to_string(tid.load()) + "/syscall");
      std::string nr;
      if (in >> nr && nr == "0") return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

hotpatch::ApplyOptions short_deadline() {
  hotpatch::ApplyOptions o;
  o.consistency_timeout = std::chrono::milliseconds(300);
  return o;
}

TEST(StackConsistency, ThreadInsideAReplacedFunctionHoldsTheApplyUntilItLeaves) {
  hotpatch::set_log_sink({});
  unsigned char before[16];
  std::memcpy(before, reinterpret_cast<const void*>(&hp_stack_outer), sizeof before);
  hp_stack_hold = 1;
  hp_stack_waiting = 0;
  std::atomic<int> result{0};
  std::thread inside([&] { result = hp_stack_outer(1); });
  while (!hp_stack_waiting) std::this_thread::yield();  // in hp_stack_wait, called from it

  auto refused = hotpatch::apply_patch_file(patch, short_deadline());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, hotpatch::ErrorCode::function_in_use);
  EXPECT_THAT(refused.error().what(), HasSubstr("is inside hp_stack_outer (frame #1"));
  EXPECT_THAT(refused.error().what(), HasSubstr("nothing was written"));
  EXPECT_EQ(std::memcmp(before, reinterpret_cast<const void*>(&hp_stack_outer), sizeof before), 0);
  EXPECT_TRUE(hotpatch::applied_patches().empty());

  // Retried until the thread leaves: then applied.
  std::thread leave([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    hp_stack_hold = 0;
  });
  hotpatch::ApplyOptions patient;
  patient.consistency_timeout = std::chrono::seconds(10);
  auto applied = hotpatch::apply_patch_file(patch, patient);
  leave.join();
  inside.join();
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  EXPECT_EQ(result, 2) << "the thread finished in the old version it started in";
  EXPECT_EQ(hp_stack_outer(1), 101);
  ASSERT_TRUE(hotpatch::revert_patch("stack-outer").has_value());
}

TEST(StackConsistency, ThreadAsleepInTheKernelInsideAReplacedFunctionIsFound) {
  hotpatch::set_log_sink({});
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<int> result{0};
  std::atomic<pid_t> tid{0};
  std::thread sleeper([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    result = hp_stack_sleeper(fds[0]);
  });
  ASSERT_TRUE(asleep_in_read(tid)) << "the thread never blocked in read()";

  auto refused = hotpatch::apply_patch_file(patch, short_deadline());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, hotpatch::ErrorCode::function_in_use);
  EXPECT_THAT(refused.error().what(), HasSubstr("is inside hp_stack_sleeper"));
  EXPECT_THAT(refused.error().what(), HasSubstr("asleep in the kernel"));

  ASSERT_EQ(write(fds[1], "\x05", 1), 1);
  sleeper.join();
  EXPECT_EQ(result, 6);
  auto applied = hotpatch::apply_patch_file(patch, short_deadline());
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  ASSERT_TRUE(hotpatch::revert_patch("stack-outer").has_value());
  close(fds[0]);
  close(fds[1]);
}

// A running thread that blocks every signal cannot walk its stack for the check: refused, named.
TEST(StackConsistency, RunningThreadThatBlocksTheCheckSignalIsNamed) {
  hotpatch::set_log_sink({});
  std::atomic<bool> stop{false}, blocking{false};
  std::thread spinner([&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    blocking = true;
    while (!stop) {
    }
  });
  while (!blocking) std::this_thread::yield();
  hotpatch::ApplyOptions o = short_deadline();
  o.thread_timeout = std::chrono::milliseconds(100);
  auto refused = hotpatch::apply_patch_file(patch, o);
  stop = true;
  spinner.join();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, hotpatch::ErrorCode::threads_unresponsive);
  EXPECT_THAT(refused.error().what(), HasSubstr("did not answer the stack check within 100 ms"));
  EXPECT_TRUE(hotpatch::applied_patches().empty());
}

TEST(StackConsistency, AnUnknownModelIsRefusedAsMalformed) {
  static const char section[] = "P\0" "1\0" "x\0" "1\0\0" "T\0" "ab\0" "m\0\0" "R\0" "f\0" "g\0\0" "C\0" "eventual\0\0";
  auto m = hotpatch::parse_patch_manifest(section, sizeof section);
  ASSERT_FALSE(m.has_value());
  EXPECT_THAT(m.error().what(), HasSubstr("HOTPATCH_CONSISTENCY names 'eventual'; the one consistency model is 'stack'"));
}

}  // namespace
