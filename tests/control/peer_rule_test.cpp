// Who may control a process follows the kernel's ptrace rule: a process that changed its
// credentials, or holds capabilities, answers root only, and says so to whoever it refuses.
#include "control/socket_dir.hpp"
#include "security_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::test {
namespace {

using namespace std::chrono_literals;

const std::string targets = HP_SECURITY_TARGETS;

control::Request op(control::Op o) {
  control::Request r;
  r.op = o;
  return r;
}

class PeerRule : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start processes as another user";
    sockets_ = dir_.path() + "/sockets";
    out_ = dir_.path() + "/out";
    log_ = dir_.path() + "/control.log";
    env_ = preloaded_env(sockets_);
    env_["HOTPATCH_LOG_FILE"] = log_;
  }

  std::string socket_of(pid_t pid) const { return control::socket_path(sockets_, pid); }

  const uid_t nobody_ = nobody_uid();
  const std::string nobody_text_ = std::to_string(nobody_uid());
  TempDir dir_;
  std::string sockets_, out_, log_;
  Env env_;
};

TEST_F(PeerRule, ProcessThatDroppedToNobodyAnswersOnlyRoot) {
  const std::string secret = dir_.path() + "/secret";
  ASSERT_EQ(::close(::open(secret.c_str(), O_WRONLY | O_CREAT, 0600)), 0);
  Child target({targets + "/drops_to_nobody", secret, nobody_text_, nobody_text_}, env_, std::nullopt, out_);
  ASSERT_TRUE(output_shows(out_, "dropped\n")) << read_text(out_);
  open_up(socket_of(target.pid()));

  EXPECT_EQ(call_as(nobody_, target.pid(), socket_of(target.pid()), op(control::Op::status)),
            "permission: control: this process changed its credentials (not dumpable): only root may control it");
  EXPECT_EQ(call_here(target.pid(), socket_of(target.pid()), op(control::Op::status)), "ok");
  EXPECT_TRUE(output_shows(log_, "warning: control: refused pid ")) << read_text(log_);
  EXPECT_NE(read_text(log_).find("(uid " + nobody_text_ +
                                 "): this process changed its credentials (not dumpable): only root may control it\n"),
            std::string::npos)
      << read_text(log_);
}

TEST_F(PeerRule, ForkedWorkerThatDroppedStaysReachableForRoot) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer does not support threads started in the child of a multi-threaded fork, "
                  "which is how a forked worker gets its endpoint";
#endif
  Child master({targets + "/forks_then_drops", nobody_text_, nobody_text_}, env_, std::nullopt, out_);
  ASSERT_TRUE(output_shows(out_, "worker ")) << read_text(out_);
  std::string line = read_text(out_);
  const pid_t worker = std::stoi(line.substr(line.find("worker ") + 7));
  // The worker's socket was bound in the fork handler, while it was still root.
  struct stat st {};
  ASSERT_EQ(::stat(socket_of(worker).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);

  Env cli_env{{"HOTPATCH_CONTROL_DIR", sockets_}, {"HOTPATCH_LOG", "off"}};
  auto status = run({HP_CLI, "status", "--pid", std::to_string(worker)}, cli_env);
  EXPECT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("process " + std::to_string(worker) + ": 0 patch(es)"), std::string::npos) << status.out;

  open_up(socket_of(worker));
  EXPECT_EQ(call_as(nobody_, worker, socket_of(worker), op(control::Op::hello)),
            "permission: control: this process changed its credentials (not dumpable): only root may control it");
  ::kill(worker, SIGKILL);
}

TEST_F(PeerRule, ProcessStartedAsNobodyAnswersNobody) {
  ::chmod(dir_.path().c_str(), 0755);
  ASSERT_EQ(::mkdir(sockets_.c_str(), 0700), 0);
  ASSERT_EQ(::chown(sockets_.c_str(), nobody_, nobody_), 0);
  env_.erase("HOTPATCH_LOG_FILE");
  Child target({targets + "/idle"}, env_, nobody_, out_);
  ASSERT_TRUE(output_shows(out_, "ready\n")) << read_text(out_);
  ASSERT_TRUE(eventually([&] { return exists(socket_of(target.pid())); }));

  EXPECT_EQ(call_as(nobody_, target.pid(), socket_of(target.pid()), op(control::Op::status)), "ok");
  EXPECT_EQ(call_here(target.pid(), socket_of(target.pid()), op(control::Op::status)), "ok");
  // Same user, other group: the kernel wants both to match.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    const gid_t other = nobody_ - 1;
    if (::setresgid(other, other, other) != 0 || ::setresuid(nobody_, nobody_, nobody_) != 0) ::_exit(3);
    std::string what = call_here(target.pid(), socket_of(target.pid()), op(control::Op::hello));
    [[maybe_unused]] auto n = ::write(fds[1], what.data(), what.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[512] = {};
  [[maybe_unused]] auto n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(std::string(buf), "permission: control: this process runs as gid " + nobody_text_ + " (real " +
                                  nobody_text_ + ", saved " + nobody_text_ +
                                  "): only a peer whose effective group is " + nobody_text_ +
                                  ", or root, may control it");
}

TEST_F(PeerRule, PermittedCapabilitiesKeepTheirUserOut) {
  Child target({targets + "/keeps_capabilities", nobody_text_, nobody_text_}, env_, std::nullopt, out_);
  ASSERT_TRUE(output_shows(out_, "dropped\n")) << read_text(out_);
  open_up(socket_of(target.pid()));
  std::string refused = call_as(nobody_, target.pid(), socket_of(target.pid()), op(control::Op::status));
  EXPECT_TRUE(refused.starts_with("permission: control: this process holds capabilities (CapPrm ")) << refused;
  EXPECT_TRUE(refused.ends_with("): only root may control it")) << refused;
  EXPECT_EQ(call_here(target.pid(), socket_of(target.pid()), op(control::Op::status)), "ok");
}

TEST_F(PeerRule, RootProcessNamesItsUidToOtherUsers) {
  Child target({targets + "/idle"}, env_, std::nullopt, out_);
  ASSERT_TRUE(output_shows(out_, "ready\n")) << read_text(out_);
  ASSERT_TRUE(eventually([&] { return exists(socket_of(target.pid())); }));
  open_up(socket_of(target.pid()));
  EXPECT_EQ(call_as(nobody_, target.pid(), socket_of(target.pid()), op(control::Op::hello)),
            "permission: control: this process runs as uid 0 (real 0, saved 0): only root may control it");
}

}  // namespace
}  // namespace hotpatch::test
