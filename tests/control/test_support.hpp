// Processes for the control tests: start a target with the preloaded runtime, run the CLI (as
// ourselves or as another user) and capture what it says.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::test {

using Env = std::map<std::string, std::string>;

/// A child process killed and reaped when dropped.
class Child {
 public:
  Child() = default;
  Child(std::vector<std::string> argv, const Env& env, std::optional<uid_t> uid = std::nullopt,
        const std::string& output_file = "/dev/null");
  Child(Child&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  Child& operator=(Child&&) = delete;
  ~Child();
  pid_t pid() const { return pid_; }
  /// SIGKILL and reap; returns the wait status.
  int kill_and_wait();
  /// Waits for exit; returns the wait status, or -1 when it is still running after `timeout`.
  int wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

struct RunResult {
  int rc = -1;
  std::string out;
  std::string err;
};

/// Runs a command to completion (as `uid` when given), capturing stdout and stderr.
RunResult run(std::vector<std::string> argv, const Env& env = {}, std::optional<uid_t> uid = std::nullopt);

/// A fresh directory under /tmp, removed when dropped.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
std::string read_text(const std::string& path);
bool exists(const std::string& path);
/// Runs of spaces as one space: table rows compared without their padding, which depends on the
/// widest cell (another process's longer pid widens the column).
std::string squeeze_spaces(const std::string& text);

/// The uid of `nobody` (65534 when there is no such entry).
uid_t nobody_uid();

}  // namespace hotpatch::test
