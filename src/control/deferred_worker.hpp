// The endpoint's worker: one thread that runs deferred request handlers (see reply.hpp) in order and
// hands their answers back to the endpoint's poll loop through an eventfd.
#pragma once

#include "control/protocol.hpp"
#include "control/unix_socket.hpp"

#include <hotpatch/error.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace hotpatch::control {

class DeferredWorker {
 public:
  static Result<std::unique_ptr<DeferredWorker>> create();
  /// Waits for the job that runs now (queued ones are dropped unanswered).
  ~DeferredWorker();
  DeferredWorker(const DeferredWorker&) = delete;
  DeferredWorker& operator=(const DeferredWorker&) = delete;

  /// Readable when an answer is ready.
  int ready_fd() const { return ready_.get(); }
  /// Queues `work`; its answer comes back from take_finished() under `ticket`. The thread starts
  /// with the first job, so a process that never defers a request has no extra thread.
  void submit(std::uint64_t ticket, std::function<Response()> work);
  std::vector<std::pair<std::uint64_t, Response>> take_finished();

  /// In a forked child: the thread does not exist there; the object must then be leaked.
  void abandon_after_fork() noexcept;

 private:
  DeferredWorker() = default;
  void run();

  Fd ready_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::deque<std::pair<std::uint64_t, std::function<Response()>>> queue_;
  std::vector<std::pair<std::uint64_t, Response>> finished_;
  std::thread thread_;
};

}  // namespace hotpatch::control
