// hotpatch attach against programs started without the runtime: the borrowed thread resumes its
// wait as if nothing happened (no EINTR, same errno, same mask), the endpoint then takes apply and
// revert, and every refusal says what and why with the process left as it was.
#include "attach/attach.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using hotpatch::attach::attach_runtime;
using hotpatch::attach::AttachOptions;

// The targets' control sockets go to a directory of this test's own: a target killed at the end
// leaves its socket there, not in root's /run/hotpatch where other tests list sockets.
const std::string& control_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/hp-attach-control-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  return dir;
}

// A target with its stdin and stdout on pipes.
class Target {
 public:
  explicit Target(std::vector<std::string> args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setenv("HOTPATCH_CONTROL_DIR", control_dir().c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Target() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(to_);
    ::close(from_);
  }
  pid_t pid() const { return pid_; }

  // The next line the target prints, or "" after `timeout`.
  std::string line(std::chrono::milliseconds timeout = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(from_, buf, sizeof buf);
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }
  std::string ask() {
    if (::write(to_, "?\n", 2) != 2) return "write failed";
    return line();
  }
  bool alive() const { return ::kill(pid_, 0) == 0; }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffer_;
};

struct Run {
  int status = -1;
  std::string output;
};

Run run(const std::string& command) {
  Run r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.output += buf;
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

AttachOptions unsigned_options() {
  AttachOptions o;
  o.runtime = HP_LIBHOTPATCH;
  o.allow_unsigned = true;
  return o;
}

std::string attach_error(pid_t pid, AttachOptions o = unsigned_options()) {
  auto r = attach_runtime(pid, o);
  return r ? std::string("attached") : r.error().what();
}

int anonymous_code_mappings(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  int n = 0;
  for (std::string l; std::getline(maps, l);) {
    // executable, private, no file: what the loader's page would leave behind
    if (l.find(" r-xp ") != std::string::npos && l.find(" 00:00 0") != std::string::npos && l.back() == ' ') ++n;
    if (l.find(" r-xp ") != std::string::npos && l.ends_with(" 0")) ++n;
  }
  return n;
}

// Runs `body` in a child with the uid and gid of nobody; returns what it wrote to the pipe.
std::string as_nobody(const std::function<std::string()>& body) {
  int p[2];
  if (::pipe(p) != 0) return "pipe failed";
  pid_t child = ::fork();
  if (child == 0) {
    ::close(p[0]);
    std::string out;
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) out = "setresuid failed";
    else out = body();
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  ::waitpid(child, nullptr, 0);
  return out;
}

class Attach : public ::testing::Test {};

TEST(Attach, ThenApplyAndRevertThroughTheCli) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  ASSERT_EQ(t.ask(), "answer 42");
  const std::string pid = std::to_string(t.pid());
  auto attached = run(std::string(HP_CLI) + " attach --pid " + pid + " --allow-unsigned --runtime " + HP_LIBHOTPATCH);
  ASSERT_EQ(attached.status, 0) << attached.output;
  EXPECT_NE(attached.output.find("attached to process " + pid), std::string::npos) << attached.output;
  EXPECT_NE(attached.output.find("control endpoint: "), std::string::npos) << attached.output;
  EXPECT_EQ(t.ask(), "answer 42");
  auto applied = run(std::string(HP_CLI) + " apply --pid " + pid + " --allow-unsigned " + HP_PATCH);
  ASSERT_EQ(applied.status, 0) << applied.output;
  EXPECT_EQ(t.ask(), "answer 43");
  auto status = run(std::string(HP_CLI) + " status --pid " + pid);
  EXPECT_NE(status.output.find("answer"), std::string::npos) << status.output;
  auto reverted = run(std::string(HP_CLI) + " revert --pid " + pid + " answer");
  ASSERT_EQ(reverted.status, 0) << reverted.output;
  EXPECT_EQ(t.ask(), "answer 42");
  EXPECT_TRUE(t.alive());
}

TEST(Attach, ProgramWhoseThreadsBlockEverySignal) {
  Target t({HP_TARGET, "epoll", "block-all"});
  ASSERT_EQ(t.line(), "ready");
  const std::string pid = std::to_string(t.pid());
  auto attached = run(std::string(HP_CLI) + " attach --pid " + pid + " --allow-unsigned --runtime " + HP_LIBHOTPATCH);
  ASSERT_EQ(attached.status, 0) << attached.output;
  auto applied = run(std::string(HP_CLI) + " apply --pid " + pid + " --allow-unsigned " + HP_PATCH);
  ASSERT_EQ(applied.status, 0) << applied.output;
  EXPECT_EQ(t.ask(), "answer 43");
  auto reverted = run(std::string(HP_CLI) + " revert --pid " + pid + " answer");
  ASSERT_EQ(reverted.status, 0) << reverted.output;
  EXPECT_EQ(t.ask(), "answer 42");
}

// The target itself checks for EINTR, errno and its mask after every wait (attach_target.c).
class AttachResumes : public ::testing::TestWithParam<const char*> {};

TEST_P(AttachResumes, TheWaitAsIfNothingHappened) {
  Target t({HP_TARGET, GetParam()});
  ASSERT_EQ(t.line(), "ready");
  std::this_thread::sleep_for(100ms);  // well inside its wait
  auto r = attach_runtime(t.pid(), unsigned_options());
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->loader_thread);
  EXPECT_GT(r->stall.count(), 0);
  EXPECT_TRUE(r->cleanup.empty()) << r->cleanup;
  EXPECT_EQ(anonymous_code_mappings(t.pid()), 0) << "the loader's code page was left mapped";
  if (std::string(GetParam()) == "nanosleep") {
    const std::string slept = t.line(4000ms);
    ASSERT_TRUE(slept.starts_with("slept ")) << slept;
    EXPECT_GE(std::stol(slept.substr(6)), 1990) << "the sleep was cut short";
  }
  EXPECT_EQ(t.ask(), "answer 42");
  EXPECT_EQ(t.ask(), "answer 42");
}

INSTANTIATE_TEST_SUITE_P(Waits, AttachResumes, ::testing::Values("epoll", "read", "poll", "nanosleep"));

// systemd's MemoryDenyWriteExecute=: the loader's page cannot become code, so the borrowed thread
// loads the runtime itself (dlopen maps files, which the policy allows) and keeps its errno; an
// apply then needs executable trampolines and is refused with the policy named.
TEST(Attach, UnderAWriteExecutePolicyLoadsOnTheBorrowedThread) {
  Target t({HP_TARGET, "read", "deny-wx"});
  ASSERT_EQ(t.line(), "ready");
  std::this_thread::sleep_for(100ms);
  const std::string refused = attach_error(t.pid());
  EXPECT_NE(refused.find("runs under a seccomp filter (systemd's SystemCallFilter= or MemoryDenyWriteExecute=, a "
                         "sandbox): a filter that kills on a refused call would kill it"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.find("give --allow-seccomp"), std::string::npos) << refused;
  AttachOptions o = unsigned_options();
  o.allow_seccomp = true;
  auto r = attach_runtime(t.pid(), o);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_FALSE(r->loader_thread);
  EXPECT_EQ(anonymous_code_mappings(t.pid()), 0);
  EXPECT_EQ(t.ask(), "answer 42");  // no EINTR, errno and mask as they were (the target checks)
  auto applied = run(std::string(HP_CLI) + " apply --pid " + std::to_string(t.pid()) + " --allow-unsigned " + HP_PATCH);
  EXPECT_EQ(applied.status, 1) << applied.output;
  EXPECT_NE(applied.output.find("MemoryDenyWriteExecute="), std::string::npos) << applied.output;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesWhenAlreadyEnabled) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  ASSERT_EQ(attach_error(t.pid()), "attached");
  const std::string second = attach_error(t.pid());
  EXPECT_NE(second.find("already enabled: its runtime serves "), std::string::npos) << second;
  auto cli = run(std::string(HP_CLI) + " attach --pid " + std::to_string(t.pid()) + " --allow-unsigned");
  EXPECT_EQ(cli.status, 1);
  EXPECT_NE(cli.output.find("already enabled"), std::string::npos) << cli.output;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesAZombie) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  std::this_thread::sleep_for(100ms);  // exited, not collected
  const std::string e = attach_error(child);
  ::waitpid(child, nullptr, 0);
  EXPECT_NE(e.find("process " + std::to_string(child) + ": is a zombie: it has exited and its parent (PID " +
                   std::to_string(::getpid()) + ") has not collected it"),
            std::string::npos)
      << e;
}

TEST(Attach, RefusesAProcessThatIsGone) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const std::string e = attach_error(child);
  EXPECT_NE(e.find("no such process"), std::string::npos) << e;
}

TEST(Attach, RefusesAProcessAlreadyTraced) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  // The tracer says when it holds the target: an attach before that would simply succeed.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t tracer = ::fork();
  if (tracer == 0) {
    ::close(ready[0]);
    const char ok = ::ptrace(PTRACE_SEIZE, t.pid(), nullptr, nullptr) == 0 ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char seized = 0;
  ASSERT_EQ(::read(ready[0], &seized, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(seized, 'y') << "the tracer could not seize the target";
  const std::string e = attach_error(t.pid());
  ::kill(tracer, SIGKILL);
  ::waitpid(tracer, nullptr, 0);
  EXPECT_NE(e.find("is already traced by PID " + std::to_string(tracer) + " ("), std::string::npos) << e;
  EXPECT_NE(e.find("detach it first"), std::string::npos) << e;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesAStaticallyLinkedProgram) {
  Target t({HP_STATIC_TARGET});
  std::this_thread::sleep_for(100ms);
  const std::string e = attach_error(t.pid());
  EXPECT_NE(e.find("is statically linked (it has no dynamic loader): nothing can be loaded into it"), std::string::npos) << e;
}

TEST(Attach, RefusesAProgramWithoutGlibc) {
  Target t({HP_NO_GLIBC_TARGET});
  std::this_thread::sleep_for(100ms);
  const std::string e = attach_error(t.pid());
  EXPECT_NE(e.find("does not use glibc (libc.so.6 is not loaded): attach loads the runtime with glibc's dlopen"),
            std::string::npos)
      << e;
  EXPECT_TRUE(t.alive());
}

TEST(Attach, RefusesWhenNoThreadReachesASafePoint) {
  Target t({HP_TARGET, "spin"});
  ASSERT_EQ(t.line(), "ready");
  AttachOptions o = unsigned_options();
  o.wait = 300ms;
  const std::string e = attach_error(t.pid(), o);
  EXPECT_NE(e.find("no thread reached a safe point (blocked in a wait, holding no lock) within 300 ms: thread " +
                   std::to_string(t.pid())),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("is running"), std::string::npos) << e;
  EXPECT_TRUE(t.alive());
}

// fgets holds stdin's lock while it waits in read(): that thread is no place to load anything.
TEST(Attach, PassesOverAThreadWaitingInsideStdio) {
  Target t({HP_TARGET, "fgets"});
  ASSERT_EQ(t.line(), "ready");
  std::this_thread::sleep_for(100ms);
  AttachOptions o = unsigned_options();
  o.wait = 300ms;
  const std::string e = attach_error(t.pid(), o);
  EXPECT_NE(e.find("in read: was called from "), std::string::npos) << e;
  EXPECT_NE(e.find("which may hold a lock the runtime's loading needs"), std::string::npos) << e;
  EXPECT_EQ(t.ask(), "answer 42");
}

// Uninitialised slots of live frames keep return addresses of whatever ran there before (the
// loader, at start-up); the frames themselves are walked, so such a slot does not keep the thread.
TEST(Attach, TakesAThreadWhoseFrameKeepsAStaleLoaderAddress) {
  Target t({HP_TARGET, "stale-loader"});
  ASSERT_EQ(t.line(), "ready");
  std::this_thread::sleep_for(50ms);
  AttachOptions o = unsigned_options();
  o.wait = 1000ms;
  EXPECT_EQ(attach_error(t.pid(), o), "attached");
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesAnotherUsersProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the caller as another user";
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  const std::string e = as_nobody([&] { return attach_error(t.pid()); });
  EXPECT_NE(e.find("belongs to uid 0 and you are uid 65534: only its own user or root may attach"), std::string::npos) << e;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesANonDumpableProcessToItsOwnUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run both sides as another user";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t target = ::fork();
  if (target == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(1);
    ::prctl(PR_SET_DUMPABLE, 0);
    (void)!::write(ready[1], "x", 1);
    for (;;) ::pause();
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const std::string e = as_nobody([&] { return attach_error(target); });
  ::kill(target, SIGKILL);
  ::waitpid(target, nullptr, 0);
  EXPECT_NE(e.find("is not dumpable (it called prctl(PR_SET_DUMPABLE, 0), or changed its user or group): the kernel "
                   "lets only root (CAP_SYS_PTRACE) trace it"),
            std::string::npos)
      << e;
}

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/hp-attach-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Attach, RefusesARuntimeOthersCanWrite) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  ScratchDir dir;
  const std::string copy = dir.path() + "/libhotpatch.so";
  std::filesystem::copy_file(HP_LIBHOTPATCH, copy);
  ::chmod(copy.c_str(), 0666);
  AttachOptions o = unsigned_options();
  o.runtime = copy;
  const std::string e = attach_error(t.pid(), o);
  EXPECT_NE(e.find(copy + ": is writable by group or others (mode 0666): whoever can write it would choose the code the "
                          "process runs"),
            std::string::npos)
      << e;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, ReportsWhatDlopenSaidAndLeavesTheProcessAsItWas) {
  Target t({HP_TARGET, "read"});
  ASSERT_EQ(t.line(), "ready");
  ScratchDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::string bogus = dir.path() + "/libhotpatch.so";
  std::ofstream(bogus) << std::string(4096, '#');  // long enough to be judged by its header
  ::chmod(bogus.c_str(), 0644);
  AttachOptions o = unsigned_options();
  o.runtime = bogus;
  const std::string e = attach_error(t.pid(), o);
  EXPECT_NE(e.find("could not load the runtime " + bogus + ": "), std::string::npos) << e;
  EXPECT_NE(e.find("invalid ELF header"), std::string::npos) << e;
  EXPECT_EQ(anonymous_code_mappings(t.pid()), 0);
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, RefusesALibraryThatIsNotTheRuntime) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  AttachOptions o = unsigned_options();
  o.runtime = "/usr/lib/x86_64-linux-gnu/libz.so.1";
  if (!std::filesystem::exists(o.runtime)) GTEST_SKIP() << "no libz here";
  const std::string e = attach_error(t.pid(), o);
  EXPECT_NE(e.find("is not the hotpatch runtime: it has no hotpatch_attach_start"), std::string::npos) << e;
  EXPECT_EQ(t.ask(), "answer 42");
}

TEST(Attach, CliNamesAMissingProcess) {
  auto r = run(std::string(HP_CLI) + " attach --pid 999999999 --allow-unsigned");
  EXPECT_EQ(r.status, 2) << r.output;  // a wrong argument, as for every command given a missing pid
  EXPECT_NE(r.output.find("no such process"), std::string::npos) << r.output;
}

TEST(Attach, CliWarnsThatWithoutKeysEveryPatchIsRefused) {
  Target t({HP_TARGET, "epoll"});
  ASSERT_EQ(t.line(), "ready");
  auto r = run(std::string(HP_CLI) + " attach --pid " + std::to_string(t.pid()) + " --runtime " + HP_LIBHOTPATCH);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("will refuse every patch sent to it"), std::string::npos) << r.output;
  auto applied = run(std::string(HP_CLI) + " apply --pid " + std::to_string(t.pid()) + " --allow-unsigned " + HP_PATCH);
  EXPECT_EQ(applied.status, 1) << applied.output;
  EXPECT_EQ(t.ask(), "answer 42");
}

}  // namespace
