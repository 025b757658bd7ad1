#include "control/deferred_worker.hpp"

#include <cerrno>
#include <exception>
#include <sys/eventfd.h>
#include <unistd.h>

namespace hotpatch::control {

Result<std::unique_ptr<DeferredWorker>> DeferredWorker::create() {
  std::unique_ptr<DeferredWorker> w(new DeferredWorker());
  w->ready_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!w->ready_.valid()) return make_error(ErrorCode::io, "eventfd", errno_text(errno));
  return w;
}

DeferredWorker::~DeferredWorker() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeferredWorker::submit(std::uint64_t ticket, std::function<Response()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(ticket, std::move(work));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  wake_.notify_one();
}

std::vector<std::pair<std::uint64_t, Response>> DeferredWorker::take_finished() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(ready_.get(), &count, sizeof count);
  std::lock_guard lock(mutex_);
  return std::exchange(finished_, {});
}

void DeferredWorker::abandon_after_fork() noexcept { ready_.reset(); }

void DeferredWorker::run() {
  for (;;) {
    std::pair<std::uint64_t, std::function<Response()>> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Response answer;
    try {
      answer = job.second();
    } catch (const std::exception& e) {
      answer = error_response(make_error(ErrorCode::internal, "request", e.what()));
    }
    {
      std::lock_guard lock(mutex_);
      finished_.emplace_back(job.first, std::move(answer));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(ready_.get(), &one, sizeof one);
  }
}

}  // namespace hotpatch::control
