// A registry that accepts the connection and never answers holds up `update`, and only `update`:
// the endpoint goes on answering everything else at once.
#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"
#include "security_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <iostream>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

control::Request op(control::Op o) {
  control::Request r;
  r.op = o;
  return r;
}

// A TCP listener on 127.0.0.1 that never accepts: the kernel completes the handshake, the request
// is sent, and no answer ever comes.
struct SilentRegistry {
  control::Fd fd;
  int port = 0;
  SilentRegistry() {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd.get(), 8) != 0) return;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  bool connected_within(std::chrono::milliseconds t) {
    pollfd p{fd.get(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(t.count())) == 1;
  }
};

TEST(HangingUpdate, StatusRevertAndHelloAnswerWhileUpdateWaitsOnTheRegistry) {
  TempDir dir;
  SilentRegistry registry;
  ASSERT_GT(registry.port, 0);
  auto keys = run({HP_CLI, "keygen", "-s", dir.path() + "/reg.key", "-p", dir.path() + "/reg.pub"});
  ASSERT_EQ(keys.rc, 0) << keys.err;

  const std::string sockets = dir.path() + "/sockets";
  Env env = preloaded_env(sockets);
  env["HOTPATCH_REGISTRY_URL"] = "http://127.0.0.1:" + std::to_string(registry.port);
  env["HOTPATCH_REGISTRY_NAME"] = "fleet";
  env["HOTPATCH_TRUSTED_KEY"] = dir.path() + "/reg.pub";
  env["HOTPATCH_CACHE_DIR"] = dir.path() + "/cache";
  env["NO_PROXY"] = "127.0.0.1";
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, env, std::nullopt, out);
  const std::string socket = control::socket_path(sockets, target.pid());
  ASSERT_TRUE(output_shows(out, "ready\n") && exists(socket)) << read_text(out);

  std::atomic<bool> update_answered{false};
  std::thread update([&] {
    (void)call_here(target.pid(), socket, op(control::Op::update), 120s);
    update_answered = true;
  });
  ASSERT_TRUE(registry.connected_within(5s)) << read_text(out);

  auto timed = [&](const control::Request& r, std::string& answer) {
    auto start = Clock::now();
    answer = call_here(target.pid(), socket, r);
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  };
  std::string answer;
  auto status_took = timed(op(control::Op::status), answer);
  EXPECT_EQ(answer, "ok");
  auto hello_took = timed(op(control::Op::hello), answer);
  EXPECT_EQ(answer, "ok");
  control::Request revert = op(control::Op::revert);
  revert.patch_id = "nothing-here";
  auto revert_took = timed(revert, answer);
  EXPECT_EQ(answer, "not_applied: patch 'nothing-here': is not applied");
  auto second_took = timed(op(control::Op::update), answer);
  EXPECT_EQ(answer, "invalid_argument: update: an update is already running; try again when it has answered");

  std::cout << "while update hangs: status " << status_took.count() << " us, hello " << hello_took.count()
            << " us, revert " << revert_took.count() << " us, second update " << second_took.count() << " us\n";
  EXPECT_LT(status_took, 500ms);
  EXPECT_LT(hello_took, 500ms);
  EXPECT_LT(revert_took, 500ms);
  EXPECT_LT(second_took, 500ms);

  // Still waiting on the registry: the first update has not been answered.
  EXPECT_FALSE(update_answered.load());
  target.kill_and_wait();
  update.join();
}

}  // namespace
}  // namespace hotpatch::test
