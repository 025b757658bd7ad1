// The endpoint in this test process: hostile and broken clients get an error or a closed
// connection, and the endpoint goes on answering everyone else.
#include "registry/minisign.hpp"
#include "control/client.hpp"
#include "control/discovery.hpp"
#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"
#include "test_support.hpp"

#include <hotpatch/control.h>
#include <hotpatch/control.hpp>

#include <gtest/gtest.h>

#include <fstream>

#include <cstdlib>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::control {
namespace {

using namespace std::chrono_literals;

class Endpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlOptions o;
    o.socket_dir = dir_.path() + "/sockets";
    o.request_timeout = 300ms;
    o.follow_forks = false;  // the tests fork clients; those must not start endpoints of their own
    auto s = enable_control(o);
    ASSERT_TRUE(s.has_value()) << s.error().what();
    path_ = control_socket_path();
  }
  void TearDown() override { disable_control(); }

  // Sends raw bytes and returns the one line the endpoint answers ("" when it closes silently).
  std::string exchange(std::string_view bytes, bool close_write = false) {
    auto fd = connect_unix(path_);
    EXPECT_TRUE(fd.has_value());
    if (!fd) return {};
    EXPECT_TRUE(send_all(fd->get(), bytes, -1, 1s).has_value());
    if (close_write) ::shutdown(fd->get(), SHUT_WR);
    std::string in;
    char buf[4096];
    for (;;) {
      pollfd p{fd->get(), POLLIN, 0};
      if (::poll(&p, 1, 3000) <= 0) return "(no answer)";
      ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
      if (n <= 0) return in;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::string error_of(std::string_view bytes, bool close_write = false) {
    std::string line = exchange(bytes, close_write);
    auto r = parse_response(line.substr(0, line.find('\n')));
    if (!r) return "unparsable: " + line;
    return r->ok ? "ok" : r->error.what();
  }

  void expect_still_answers() {
    Request hello;
    auto r = call(::getpid(), path_, hello);
    ASSERT_TRUE(r.has_value()) << r.error().what();
    EXPECT_TRUE(r->ok);
    EXPECT_EQ(r->result["pid"], ::getpid());
  }

  test::TempDir dir_;
  std::string path_;
};

TEST_F(Endpoint, SocketIsPrivateAndNamedByPid) {
  EXPECT_EQ(path_, dir_.path() + "/sockets/" + std::to_string(::getpid()) + ".sock");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_.path() + "/sockets").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  expect_still_answers();
}

TEST_F(Endpoint, MalformedRequestGetsAnErrorAndTheEndpointGoesOn) {
  EXPECT_EQ(error_of("this is not json\n"), "request: is not valid JSON");
  EXPECT_EQ(error_of("{\"hotpatch\":9,\"op\":\"status\"}\n"), "request: uses protocol version 9; this side speaks version 1");
  EXPECT_EQ(error_of("{\"hotpatch\":1,\"op\":\"apply\",\"source\":\"x.so\"}\n"),
            "apply: needs the patch file attached to the request");
  EXPECT_EQ(error_of("{\"hotpatch\":1,\"op\":\"revert\",\"patch_id\":\"nothing-here\"}\n"),
            "patch 'nothing-here': is not applied");
  EXPECT_EQ(error_of("{\"hotpatch\":1,\"op\":\"update\"}\n"),
            "update: this process has no registry configured (start it with HOTPATCH_REGISTRY_URL, "
            "HOTPATCH_REGISTRY_NAME and HOTPATCH_TRUSTED_KEY)");
  expect_still_answers();
}

TEST_F(Endpoint, OversizedRequestIsRefusedBeforeItIsRead) {
  EXPECT_EQ(error_of(std::string(200 * 1024, 'x')), "request: is larger than 65536 bytes");
  expect_still_answers();
}

TEST_F(Endpoint, HalfSentRequestTimesOut) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of("{\"hotpatch\":1,\"op\":"), "request: incomplete after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(error_of("{\"hotpatch\":1,\"op\":\"hello\"}", /*close_write=*/true), "request: ended without a newline");
  expect_still_answers();
}

TEST_F(Endpoint, SilentClientsDoNotDelayOthers) {
  std::vector<Fd> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(connect_unix(path_).value());
  auto start = std::chrono::steady_clock::now();
  expect_still_answers();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
}

TEST_F(Endpoint, OtherUsersAreRefusedWithTheReason) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  const uid_t nobody = test::nobody_uid();
  // With the file permissions the kernel already refuses the other user.
  pid_t child = ::fork();
  if (child == 0) {
    if (::setresuid(nobody, nobody, nobody) != 0) ::_exit(3);
    int err = 0;
    auto fd = connect_unix(path_, &err);
    ::_exit(!fd && err == EACCES ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Opened up by mistake, the socket still serves nobody else: the peer credentials decide, and
  // the refused peer is told which part of the kernel's ptrace rule it fails.
  ASSERT_EQ(::chmod((dir_.path()).c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir_.path() + "/sockets").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  child = ::fork();
  if (child == 0) {
    if (::setresuid(nobody, nobody, nobody) != 0) ::_exit(3);
    Request hello;
    auto r = call(::getppid(), path_, hello, CallOptions{2s, -1});
    std::string what = !r ? "no answer: " + r.error().what()
                       : r->ok ? std::string("ok")
                               : std::string(error_code_name(r->error.code)) + ": " + r->error.what();
    [[maybe_unused]] auto n = ::write(pipe_fds[1], what.data(), what.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ::waitpid(child, &status, 0);
  char buf[512] = {};
  [[maybe_unused]] auto n = ::read(pipe_fds[0], buf, sizeof buf - 1);
  ::close(pipe_fds[0]);
  EXPECT_EQ(std::string(buf), "permission: control: this process runs as uid 0 (real 0, saved 0): only root may control it");
  expect_still_answers();
}

TEST_F(Endpoint, EnablingTwiceIsRefused) {
  auto again = enable_control({});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().what(), "enable_control: control is already enabled (" + path_ + ")");
}

TEST(EndpointSetup, RefusesASocketDirectoryOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a directory for another user";
  test::TempDir dir;
  std::string theirs = dir.path() + "/theirs";
  ASSERT_EQ(::mkdir(theirs.c_str(), 0700), 0);
  ASSERT_EQ(::chown(theirs.c_str(), test::nobody_uid(), test::nobody_uid()), 0);
  ControlOptions o;
  o.socket_dir = theirs;
  auto s = enable_control(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().what(), theirs + ": socket directory belongs to uid " + std::to_string(test::nobody_uid()) +
                                  ", not to this user (uid 0)");
  EXPECT_EQ(control_socket_path(), "");
}

TEST(EndpointSetup, RemovesStaleSocketsOfDeadProcesses) {
  test::TempDir dir;
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  std::string stale = socket_path(dir.path(), dead);
  { auto l = listen_unix(stale, 0600); ASSERT_TRUE(l.has_value()); }
  ASSERT_TRUE(test::exists(stale));

  // The CLI side: asking for the dead process removes its socket and says so.
  ::setenv("HOTPATCH_CONTROL_DIR", dir.path().c_str(), 1);
  auto found = find_socket(dead);
  ::unsetenv("HOTPATCH_CONTROL_DIR");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().what(),
            "process " + std::to_string(dead) + ": is not running; removed its stale control socket " + stale);
  EXPECT_FALSE(test::exists(stale));

  // The endpoint side: starting up in the directory removes what dead processes left.
  { auto l = listen_unix(stale, 0600); ASSERT_TRUE(l.has_value()); }
  ControlOptions o;
  o.socket_dir = dir.path();
  ASSERT_TRUE(enable_control(o).has_value());
  EXPECT_FALSE(test::exists(stale));
  disable_control();
  EXPECT_FALSE(test::exists(socket_path(dir.path(), ::getpid())));
}

TEST(EndpointSetup, SocketNobodyServesIsReportedAndRemoved) {
  test::TempDir dir;
  test::Child sleeper({"sleep", "30"}, {});
  std::string path = socket_path(dir.path(), sleeper.pid());
  { auto l = listen_unix(path, 0600); ASSERT_TRUE(l.has_value()); }  // closed: nobody listens now
  Request hello;
  auto r = call(sleeper.pid(), path, hello);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().what(), "process " + std::to_string(sleeper.pid()) + ": nobody serves its control socket " + path +
                                  " (left by a process that is gone); removed it");
  EXPECT_FALSE(test::exists(path));
}

TEST(EndpointSetup, EnvironmentErrorsNameTheVariable) {
  using Env = std::map<std::string, std::string>;
  std::vector<std::pair<Env, std::string>> cases{
      {{{"HOTPATCH_POLL_SECONDS", "soon"}}, "HOTPATCH_POLL_SECONDS: 'soon' is not a number of seconds between 0 and 604800"},
      {{{"HOTPATCH_POLL_SECONDS", "30"}}, "HOTPATCH_POLL_SECONDS: is set but HOTPATCH_REGISTRY_URL is not"},
      {{{"HOTPATCH_CONTROL", "maybe"}}, "HOTPATCH_CONTROL: 'maybe' is not 1/on or 0/off"},
      {{{"HOTPATCH_REGISTRY_URL", "file:///srv/r"}}, "HOTPATCH_REGISTRY_NAME: is needed with HOTPATCH_REGISTRY_URL"},
      {{{"HOTPATCH_REGISTRY_URL", "file:///srv/r"}, {"HOTPATCH_REGISTRY_NAME", "demo"}},
       "HOTPATCH_TRUSTED_KEY: is needed with HOTPATCH_REGISTRY_URL (a minisign public key file)"},
      {{{"HOTPATCH_REGISTRY_URL", "file:///srv/r"}, {"HOTPATCH_REGISTRY_NAME", "demo"}, {"HOTPATCH_TRUSTED_KEY", "/nonexistent.pub"}},
       "HOTPATCH_TRUSTED_KEY: /nonexistent.pub cannot be opened: No such file or directory"},
      {{{"HOTPATCH_TRUSTED_KEY", "/nonexistent.pub"}},
       "HOTPATCH_TRUSTED_KEY: /nonexistent.pub cannot be opened: No such file or directory"},
      {{{"HOTPATCH_TRUSTED_KEY", " , "}}, "HOTPATCH_TRUSTED_KEY: names no key file"},
      {{{"HOTPATCH_ALLOW_UNSIGNED", "please"}}, "HOTPATCH_ALLOW_UNSIGNED: 'please' is not 1/on or 0/off"},
      {{{"HOTPATCH_LOG", "loud"}}, "HOTPATCH_LOG: 'loud' is not "},
      {{{"HOTPATCH_REGISTRY_URL", "file:///srv/r"}, {"HOTPATCH_REGISTRY_NAME", "demo"}, {"HOTPATCH_TRUSTED_KEY", "/dev/null"}},
       "HOTPATCH_TRUSTED_KEY: /dev/null is not a regular file"},
  };
  const char* vars[] = {"HOTPATCH_POLL_SECONDS", "HOTPATCH_CONTROL", "HOTPATCH_REGISTRY_URL", "HOTPATCH_REGISTRY_NAME",
                        "HOTPATCH_TRUSTED_KEY", "HOTPATCH_ALLOW_UNSIGNED", "HOTPATCH_CACHE_DIR", "HOTPATCH_LOG"};
  for (const auto& [env, message] : cases) {
    for (const char* v : vars) ::unsetenv(v);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    auto o = control_options_from_environment();
    ASSERT_FALSE(o.has_value()) << message;
    EXPECT_EQ(o.error().what().substr(0, message.size()), message);
  }
  for (const char* v : vars) ::unsetenv(v);
}

// A relative cache directory would be a different cache in every working directory the service
// starts from, each without the rollback state of the others.
TEST(EndpointSetup, RelativeCacheDirectoryIsRefused) {
  test::TempDir dir;
  const std::string pub = dir.path() + "/k.pub";
  {
    std::ofstream out(pub);
    out << registry::minisign::format_public_key(registry::minisign::generate_secret_key().public_key());
  }
  ::setenv("HOTPATCH_REGISTRY_URL", "file:///srv/r", 1);
  ::setenv("HOTPATCH_REGISTRY_NAME", "demo", 1);
  ::setenv("HOTPATCH_TRUSTED_KEY", pub.c_str(), 1);
  ::setenv("HOTPATCH_CACHE_DIR", "cache", 1);
  auto o = control_options_from_environment();
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().what(), "HOTPATCH_CACHE_DIR: 'cache' is not an absolute path");
  ::setenv("HOTPATCH_CACHE_DIR", (dir.path() + "/cache").c_str(), 1);
  auto ok = control_options_from_environment();
  ASSERT_TRUE(ok.has_value()) << ok.error().what();
  EXPECT_EQ(ok->trusted_keys.size(), 1u);
  ASSERT_TRUE(ok->registry.has_value());
  EXPECT_EQ(ok->registry->trusted_keys, ok->trusted_keys);
  for (const char* v : {"HOTPATCH_REGISTRY_URL", "HOTPATCH_REGISTRY_NAME", "HOTPATCH_TRUSTED_KEY", "HOTPATCH_CACHE_DIR"})
    ::unsetenv(v);
}

TEST(EndpointSetup, TheCApiEnablesWithOneCall) {
  test::TempDir dir;
  ASSERT_EQ(hotpatch_enable_control(dir.path().c_str()), 0) << hotpatch_control_last_error();
  EXPECT_EQ(std::string(hotpatch_control_socket_path()), socket_path(dir.path(), ::getpid()));
  EXPECT_NE(hotpatch_enable_control(dir.path().c_str()), 0);
  EXPECT_NE(std::string(hotpatch_control_last_error()).find("control is already enabled"), std::string::npos);
  hotpatch_disable_control();
  EXPECT_EQ(std::string(hotpatch_control_socket_path()), "");
}

}  // namespace
}  // namespace hotpatch::control
