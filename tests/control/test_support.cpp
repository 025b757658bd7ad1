#include "test_support.hpp"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::test {
namespace {

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const Env& env, std::optional<uid_t> uid,
                             int out_fd, int err_fd) {
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  if (uid) {
    if (::setresgid(*uid, *uid, *uid) != 0 || ::setresuid(*uid, *uid, *uid) != 0) ::_exit(126);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

}  // namespace

Child::Child(std::vector<std::string> argv, const Env& env, std::optional<uid_t> uid, const std::string& output_file) {
  int out = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = ::fork();
  if (pid_ == 0) exec_child(argv, env, uid, out, out);
  ::close(out);
}

Child::~Child() {
  if (pid_ > 0) kill_and_wait();
}

int Child::kill_and_wait() {
  int status = 0;
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int Child::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

RunResult run(std::vector<std::string> argv, const Env& env, std::optional<uid_t> uid) {
  TempDir dir;
  if (uid) ::chmod(dir.path().c_str(), 0777);
  std::string out_path = dir.path() + "/out", err_path = dir.path() + "/err";
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  pid_t pid = ::fork();
  if (pid == 0) exec_child(argv, env, uid, out, err);
  ::close(out);
  ::close(err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  return r;
}

TempDir::TempDir() {
  char templ[] = "/tmp/hotpatch-control-test-XXXXXX";
  path_ = ::mkdtemp(templ);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// Whatever could be read: a /proc file of a process that exits meanwhile fails with ESRCH, which
// an istreambuf_iterator would throw out of.
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) text.append(buf, static_cast<std::size_t>(in.gcount()));
  return text;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string squeeze_spaces(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ' || out.empty() || out.back() != ' ') out += c;
  return out;
}

uid_t nobody_uid() {
  passwd* pw = ::getpwnam("nobody");
  return pw != nullptr ? pw->pw_uid : 65534;
}

}  // namespace hotpatch::test
