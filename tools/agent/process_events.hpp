// New programs on the host as they start: the kernel's process-event connector (netlink,
// PROC_EVENT_EXEC), so a process started after a pass is patched within a second instead of at the
// next look at /proc. Needs CAP_NET_ADMIN; without it (or without the connector) the agent says so
// and relies on its /proc scans.
#pragma once

#include <hotpatch/error.hpp>

#include <sys/types.h>

namespace hotpatch::agent {

class ProcessEvents {
 public:
  static Result<ProcessEvents> open();
  ProcessEvents(ProcessEvents&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ProcessEvents& operator=(ProcessEvents&&) = delete;
  ~ProcessEvents();

  /// Readable when events are waiting.
  int fd() const { return fd_; }
  /// Reads what is waiting (never blocks); true when a program was started (an exec) among it,
  /// or when events were lost (the caller should look at /proc anyway).
  bool drain_execs();

 private:
  explicit ProcessEvents(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace hotpatch::agent
