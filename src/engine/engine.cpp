// The engine as a whole: the one instance, and what it reports. The apply journey is in apply.cpp,
// revert in revert.cpp.
#include "engine/engine.hpp"

#include "os/linux/loader_hooks.hpp"
#include "os/linux/thread_round.hpp"
#include "support/log.hpp"

#include <pthread.h>

namespace hotpatch::engine {

Engine& Engine::instance() {
  static Engine* engine = [] {
    auto* e = new Engine;  // never destroyed: patched code may run during exit
    // A child forked while another thread is mid-apply (or mid-log-line) would inherit a locked
    // mutex and deadlock on its first patch or log line; fork waits for them instead. The engine's
    // inner locks (symbols, code writer, signals) are only taken under the engine mutex.
    pthread_atfork([] { Engine::instance().mutex_.lock(); log::lock_for_fork(); },
                   [] { log::unlock_after_fork(); Engine::instance().mutex_.unlock(); },
                   [] { log::unlock_after_fork(); Engine::instance().mutex_.unlock(); });
    os::set_load_listener([] { Engine::instance().on_modules_loaded(); });
    return e;
  }();
  return *engine;
}

std::vector<PatchedFunction> Engine::table() {
  std::lock_guard lock(mutex_);
  sync_with_loader_locked();
  return table_.rows();
}

std::vector<AppliedPatch> Engine::patches() {
  std::lock_guard lock(mutex_);
  sync_with_loader_locked();
  return table_.patches();
}

EngineStats Engine::stats() {
  std::lock_guard lock(mutex_);
  EngineStats s = stats_;
  const auto c = os::safety_counters();
  s.safety_rounds = c.rounds;
  s.threads_relocated = c.relocated;
  s.threads_held = c.held;
  s.trap_redirects = c.trap_redirects;
  return s;
}

}  // namespace hotpatch::engine
