// Hazard: a thread interrupted strictly inside the bytes an entry jump overwrites by a signal of its
// own, whose handler is still running (or blocked in the kernel) while the jump is written. The
// handler returns through its signal frame to the interrupted PC: it must find the old code there
// (moved to the trampoline), never the middle of the new jump. Three handlers: one that runs (the
// check signal interrupts it), one that blocks every signal (the thread is held), one asleep in a
// system call (the thread's blocked-in-kernel PC alone would say it is safe).
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

#include "targets.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <ucontext.h>
#include <unistd.h>

namespace {

enum class Wait { running, blocking_every_signal, in_system_call };

std::atomic<int> g_handled{0};
std::atomic<bool> g_parked{false}, g_release{false};
std::atomic<std::uintptr_t> g_parked_pc{0};
Wait g_wait = Wait::running;
int g_pipe[2] = {-1, -1};

void on_usr1(int, siginfo_t*, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  const auto pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto entry = reinterpret_cast<std::uintptr_t>(&hp_parked_entry);
  ++g_handled;
  if (pc != entry + 1 && pc != entry + 3) return;  // not inside the entry bytes: try again
  g_parked_pc = pc;
  g_parked = true;
  if (g_wait == Wait::in_system_call) {
    char c;
    while (read(g_pipe[0], &c, 1) < 0) {
    }
  } else {
    while (!g_release) sched_yield();
  }
}

std::string run_case(Wait wait) {
  g_wait = wait;
  g_handled = 0;
  g_parked = false;
  g_release = false;
  hp_parked_spin = 1;
  if (wait == Wait::in_system_call && pipe(g_pipe) != 0) return "pipe failed";
  struct sigaction action{}, old{};
  action.sa_sigaction = on_usr1;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  if (wait == Wait::blocking_every_signal) sigfillset(&action.sa_mask);
  else sigemptyset(&action.sa_mask);
  sigaction(SIGUSR1, &action, &old);

  std::atomic<int> result{0};
  std::thread spinner([&] { result = hp_parked_entry(); });
  // Signal it until the handler catches it strictly inside the entry bytes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!g_parked && std::chrono::steady_clock::now() < deadline) {
    const int before = g_handled;
    pthread_kill(spinner.native_handle(), SIGUSR1);
    while (g_handled == before && !g_parked) sched_yield();
  }
  std::string outcome;
  if (!g_parked) {
    outcome = "the handler never caught the thread inside the entry bytes";
  } else {
    const auto before = hotpatch::engine_stats();
    auto applied = hotpatch::apply_patch_file(std::string(HP_PATCH_DIR) + "/parked_entry.so");
    if (!applied) outcome = "apply refused: " + applied.error().what();
    // A thread the round signalled may run the check's handler only after the apply returned
    // (before any code of its own): wait for it to be counted.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (applied && hotpatch::engine_stats().threads_relocated == before.threads_relocated &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (applied && hotpatch::engine_stats().threads_relocated == before.threads_relocated)
      outcome = "nothing was relocated, though the handler returns into the entry bytes (at +" +
                std::to_string(g_parked_pc - reinterpret_cast<std::uintptr_t>(&hp_parked_entry)) + ")";
  }
  // Let the handler return: the thread resumes where its frame says, then leaves the loop.
  hp_parked_spin = 0;
  g_release = true;
  if (wait == Wait::in_system_call) {
    [[maybe_unused]] auto n = write(g_pipe[1], "x", 1);
  }
  spinner.join();  // a thread returned into the middle of the jump takes the process down here
  if (outcome.empty() && result != 1 && result != 2) outcome = "the thread returned " + std::to_string(result.load());
  sigaction(SIGUSR1, &old, nullptr);
  if (g_pipe[0] >= 0) {
    close(g_pipe[0]);
    close(g_pipe[1]);
    g_pipe[0] = g_pipe[1] = -1;
  }
  (void)hotpatch::revert_patch("parked-entry");
  return outcome;
}

TEST(OwnSignalHandler, RunningHandlerReturnsIntoTheOldCode) {
  hotpatch::set_log_sink({});
  EXPECT_EQ(run_case(Wait::running), "");
}

TEST(OwnSignalHandler, HandlerBlockingEverySignalReturnsIntoTheOldCode) {
  hotpatch::set_log_sink({});
  EXPECT_EQ(run_case(Wait::blocking_every_signal), "");
}

TEST(OwnSignalHandler, HandlerAsleepInASystemCallReturnsIntoTheOldCode) {
  hotpatch::set_log_sink({});
  EXPECT_EQ(run_case(Wait::in_system_call), "");
}

}  // namespace
