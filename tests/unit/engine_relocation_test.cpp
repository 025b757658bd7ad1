// A thread standing inside the bytes the jump overwrites is moved to the relocated copy of them and
// finishes the old version there. Made deterministic with a thread blocked in a syscall at +2.
#include "engine_test_support.hpp"
#include "targets.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <thread>

using namespace hptest;

namespace {

TEST_F(EngineTest, ThreadInsideOverwrittenBytesFinishesTheOldVersion) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  char byte = 0;
  const auto before = hotpatch::engine_stats();
  auto reader = std::async(std::launch::async, [&] {
    return hp_blocking_entry(fds[0], reinterpret_cast<long>(&byte), 1, SYS_read);
  });
  // Wait until the reader is blocked in read() inside hp_blocking_entry.
  for (int i = 0; i < 1000 && reader.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready; ++i) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(reader.wait_for(std::chrono::seconds(0)), std::future_status::ready);

  apply_ok("blocking_entry");
  const auto after = hotpatch::engine_stats();
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
