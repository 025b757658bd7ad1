#include "agent/health.hpp"

#include "agent/process_scan.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace hotpatch::agent {

std::optional<std::string> process_problem(const PatchedProcess& p) {
  auto start = process_start_time(p.pid);
  if (!start) return "process " + std::to_string(p.pid) + " exited";
  if (*start != p.start_time) return "process " + std::to_string(p.pid) + " exited (its pid now names another process)";
  // A zombie has exited too: only its parent has not collected it yet.
  std::FILE* f = std::fopen(("/proc/" + std::to_string(p.pid) + "/stat").c_str(), "r");
  if (f != nullptr) {
    char buf[512] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const char* close = std::strrchr(buf, ')');
    if (n > 0 && close != nullptr && (close[2] == 'Z' || close[2] == 'X')) {
      return "process " + std::to_string(p.pid) + " exited";
    }
  }
  return std::nullopt;
}

std::optional<std::string> run_health_command(const std::string& command, const PatchedProcess& p,
                                              std::chrono::seconds timeout) {
  const std::string pid = std::to_string(p.pid);
  const std::string version = std::to_string(p.version);
  const pid_t child = ::fork();
  if (child < 0) return std::string("the health command could not be started: ") + std::strerror(errno);
  if (child == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(2, 1);
    ::setenv("HOTPATCH_PID", pid.c_str(), 1);
    ::setenv("HOTPATCH_PATCH_ID", p.id.c_str(), 1);
    ::setenv("HOTPATCH_PATCH_VERSION", version.c_str(), 1);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return std::string("the health command was lost: ") + std::strerror(errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-child, SIGKILL);
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return "the health command did not finish within " + std::to_string(timeout.count()) + " s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  if (WIFEXITED(status)) return "the health command exited with " + std::to_string(WEXITSTATUS(status));
  return "the health command was killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace hotpatch::agent
