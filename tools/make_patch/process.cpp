#include "make_patch/process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hotpatch::make_patch {
namespace {

// Between fork and exec only async-signal-safe calls: the child reports a failed exec by writing
// errno into a close-on-exec pipe the parent reads.
[[noreturn]] void fail_child(int err_pipe) {
  const int e = errno;
  (void)!::write(err_pipe, &e, sizeof e);
  ::_exit(127);
}

[[noreturn]] void child(const std::vector<char*>& args, const std::string& cwd, int out_fd, int err_pipe) {
  const int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || ::dup2(in, 0) < 0) fail_child(err_pipe);
  if (::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0) fail_child(err_pipe);
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) fail_child(err_pipe);
  ::execvp(args[0], args.data());
  fail_child(err_pipe);
}

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const std::string& cwd) {
  if (argv.empty()) return make_error(ErrorCode::invalid_argument, "", "no command to run");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return make_error(ErrorCode::io, argv[0], std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return make_error(ErrorCode::io, argv[0], std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid == 0) child(args, cwd, out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return make_error(ErrorCode::io, argv[0], std::string("fork: ") + std::strerror(errno));
  }
  ProcessResult result;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n > 0) result.output.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(out[0]);
  int child_errno = 0;
  const bool exec_failed = ::read(err[0], &child_errno, sizeof child_errno) == sizeof child_errno;
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exec_failed)
    return make_error(ErrorCode::io, argv[0], std::string("cannot run: ") + std::strerror(child_errno) +
                                                  (cwd.empty() ? "" : " (in " + cwd + ")"));
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+./,:@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace hotpatch::make_patch
