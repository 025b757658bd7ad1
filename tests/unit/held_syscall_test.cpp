// Hazard: threads that block every signal sleep in system calls while patches are applied. They are
// stopped with ptrace for each write (an int3 would kill them). The stop interrupts their system
// call; each must carry on as if nothing happened: epoll_wait and sigtimedwait, which the kernel
// ends with EINTR after any stop, as well as read and nanosleep, which it restarts itself.
#include "engine_test_support.hpp"
#include "targets.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace hptest;

struct Sleeper {
  std::thread thread;
  std::atomic<int> tid{0};
  std::atomic<long> result{-2};
  std::atomic<int> error{0};
};

void block_everything() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

// True once the thread sleeps in the kernel (its syscall file no longer says "running").
bool sleeping(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[32] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr && std::strncmp(buf, "running", 7) != 0;
  std::fclose(f);
  return ok;
}

TEST(HeldSystemCalls, SleepingSignalBlockingThreadsSeeNoEintrAcrossApplies) {
  hotpatch::set_log_sink({});
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  const int ev = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(ep, 0);
  ASSERT_GE(ev, 0);
  epoll_event want{};
  want.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, ev, &want), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);

  Sleeper in_epoll, in_read, in_sigwait, in_nanosleep;
  auto start = [](Sleeper& s, auto body) {
    s.thread = std::thread([&s, body] {
      block_everything();
      s.tid = static_cast<int>(syscall(SYS_gettid));
      errno = 0;
      s.result = body();
      s.error = errno;
    });
  };
  start(in_epoll, [ep] {
    epoll_event got{};
    return static_cast<long>(epoll_wait(ep, &got, 1, -1));
  });
  start(in_read, [&pipe_fds] {
    char c = 0;
    return static_cast<long>(read(pipe_fds[0], &c, 1));
  });
  start(in_sigwait, [] {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    timespec limit{30, 0};
    return static_cast<long>(sigtimedwait(&usr1, nullptr, &limit));
  });
  start(in_nanosleep, [] {
    timespec t{1, 500000000};
    return static_cast<long>(nanosleep(&t, nullptr));
  });
  for (Sleeper* s : {&in_epoll, &in_read, &in_sigwait, &in_nanosleep}) {
    while (s->tid.load() == 0 || !sleeping(s->tid.load())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  const auto before = hotpatch::engine_stats();
  for (int i = 0; i < 20; ++i) {
    apply_ok("c_add_v1");
    EXPECT_EQ(hp_c_add(1), 101);
    revert_ok("c-add");
  }
  const auto after = hotpatch::engine_stats();
  EXPECT_GE(after.threads_held - before.threads_held, 4u * 40) << "the sleepers were not held for every write";

  // Nothing returned early: each is still asleep until it is woken the way it waits to be.
  EXPECT_EQ(in_epoll.result.load(), -2);
  EXPECT_EQ(in_read.result.load(), -2);
  EXPECT_EQ(in_sigwait.result.load(), -2);
  const std::uint64_t one = 1;
  ASSERT_EQ(write(ev, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), in_sigwait.tid.load(), SIGUSR1), 0);
  for (Sleeper* s : {&in_epoll, &in_read, &in_sigwait, &in_nanosleep}) s->thread.join();

  EXPECT_EQ(in_epoll.result.load(), 1) << "epoll_wait: " << std::strerror(in_epoll.error.load());
  EXPECT_EQ(in_read.result.load(), 1) << "read: " << std::strerror(in_read.error.load());
  EXPECT_EQ(in_sigwait.result.load(), SIGUSR1) << "sigtimedwait: " << std::strerror(in_sigwait.error.load());
  EXPECT_EQ(in_nanosleep.result.load(), 0) << "nanosleep: " << std::strerror(in_nanosleep.error.load());
  for (int fd : {ep, ev, pipe_fds[0], pipe_fds[1]}) close(fd);
}

}  // namespace
