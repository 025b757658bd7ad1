#include "security_support.hpp"

#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hotpatch::test {

Env preloaded_env(const std::string& socket_dir) {
  return {{"LD_PRELOAD", HP_LIBHOTPATCH},
          {"HOTPATCH_CONTROL", "1"},
          {"HOTPATCH_CONTROL_DIR", socket_dir},
          {"HOTPATCH_ALLOW_UNSIGNED", "1"}};
}

bool output_shows(const std::string& file, const std::string& text, std::chrono::milliseconds timeout) {
  return eventually([&] { return read_text(file).find(text) != std::string::npos; }, timeout);
}

std::string call_here(pid_t pid, const std::string& socket, const control::Request& request,
                      std::chrono::milliseconds timeout) {
  auto r = control::call(pid, socket, request, control::CallOptions{timeout, -1});
  if (!r) return std::string(error_code_name(r.error().code)) + ": " + r.error().what();
  if (!r->ok) return std::string(error_code_name(r->error.code)) + ": " + r->error.what();
  return "ok";
}

std::string call_as(uid_t id, pid_t pid, const std::string& socket, const control::Request& request) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    if (::setresgid(id, id, id) != 0 || ::setresuid(id, id, id) != 0) ::_exit(3);
    std::string what = call_here(pid, socket, request);
    [[maybe_unused]] auto n = ::write(fds[1], what.data(), what.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  ::waitpid(child, nullptr, 0);
  return out;
}

void open_up(const std::string& socket) {
  std::filesystem::path sock(socket);
  ::chmod(sock.parent_path().parent_path().c_str(), 0755);
  ::chmod(sock.parent_path().c_str(), 0755);
  ::chmod(sock.c_str(), 0666);
}

}  // namespace hotpatch::test
