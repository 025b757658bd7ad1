// Root runs `hotpatch ps` and `--all` over directories and processes other users control. Each test
// stages one attack (a symlinked socket directory, a malformed or escape-laden answer, endpoints
// that never answer, a process `--all` should not touch) and checks what the CLI does about it.
#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"
#include "hotpatch/terminal_text.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hotpatch::test {
namespace {

using namespace std::chrono_literals;

const std::string cli = HP_CLI;
const std::string patches = HP_CONTROL_PATCHES;

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    sockets_ = dir_.path() + "/sockets";
    ::mkdir(sockets_.c_str(), 0700);
    env_ = {{"HOTPATCH_CONTROL_DIR", sockets_}, {"HOTPATCH_LOG", "off"}};
  }

  // A preloaded target writing answer() to `state`; patched by some tests, so unsigned patches are allowed.
  Child start_target(const std::string& state, Env env = {}, std::optional<uid_t> uid = std::nullopt,
                     const std::string& program = HP_TARGET) {
    for (const auto& [k, v] : env_) env.emplace(k, v);
    if (program == HP_TARGET) {
      env["LD_PRELOAD"] = HP_LIBHOTPATCH;
      env["HOTPATCH_CONTROL"] = "1";
    }
    env["HOTPATCH_ALLOW_UNSIGNED"] = "1";
    Child c({program, state}, env, uid, dir_.path() + "/target.log");
    const std::string sock = control::socket_path(env["HOTPATCH_CONTROL_DIR"], c.pid());
    EXPECT_TRUE(eventually([&] { return exists(sock) && !read_text(state).empty(); }))
        << sock << ": " << read_text(dir_.path() + "/target.log");
    return c;
  }

  // A fake endpoint in `dir` answering every request with `line` (or never, with "--silent").
  Child start_fake(const std::string& line, const std::string& dir = {}) {
    const std::string where = dir.empty() ? sockets_ : dir;
    Child c({HP_FAKE_ENDPOINT, where, line}, {}, std::nullopt, dir_.path() + "/fake.log");
    const std::string sock = control::socket_path(where, c.pid());
    EXPECT_TRUE(eventually([&] { return exists(sock); })) << read_text(dir_.path() + "/fake.log");
    return c;
  }

  RunResult hp(std::vector<std::string> args, std::optional<uid_t> uid = std::nullopt) {
    args.insert(args.begin(), cli);
    return run(args, env_, uid);
  }

  static std::string contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos ? std::string() : "missing \"" + part + "\" in:\n" + text;
  }

  TempDir dir_;
  std::string sockets_;
  Env env_;
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// A uid nobody has and no /tmp/hotpatch-<uid> exists for, to name an attacker's directory.
uid_t unused_uid() {
  for (uid_t uid = 3'999'000;; ++uid) {
    if (::getpwuid(uid) == nullptr && !exists("/tmp/hotpatch-" + std::to_string(uid))) return uid;
  }
}

// Another user points /tmp/hotpatch-<uid> at a directory only root can read, holding files named
// like sockets of dead processes: root's ps must neither delete them nor list anything from there.
// The same when another user's process names that directory in its HOTPATCH_CONTROL_DIR.
TEST_F(Security, SymlinkedSocketDirectoryIsNeitherCleanedNorListed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir secret;  // mode 0700, root's
  const pid_t dead = dead_pid(), dead_too = dead_pid();
  const std::string file = control::socket_path(secret.path(), dead);
  const std::string sock = control::socket_path(secret.path(), dead_too);
  const std::string live = control::socket_path(secret.path(), ::getpid());
  ASSERT_TRUE(std::ofstream(file) << "root's data");
  ASSERT_TRUE(std::ofstream(live) << "root's data");
  { ASSERT_TRUE(control::listen_unix(sock, 0600).has_value()); }
  const std::string link = "/tmp/hotpatch-" + std::to_string(unused_uid());
  ASSERT_EQ(::symlink(secret.path().c_str(), link.c_str()), 0);
  // And a real directory under another uid's name that the uid does not own.
  const std::string foreign = "/tmp/hotpatch-" + std::to_string(unused_uid());
  ASSERT_EQ(::mkdir(foreign.c_str(), 0700), 0);
  const std::string foreign_sock = control::socket_path(foreign, dead);
  { ASSERT_TRUE(control::listen_unix(foreign_sock, 0600).has_value()); }

  // And a process of another user naming the root-only directory as its own control directory.
  Child namer({"sleep", "30"}, {{"HOTPATCH_CONTROL_DIR", secret.path()}}, nobody_uid());
  ASSERT_TRUE(eventually([&] { return read_text("/proc/" + std::to_string(namer.pid()) + "/cmdline").starts_with("sleep"); }));

  auto ps = hp({"ps"});
  auto status = hp({"status", "--all", "--all-users"});
  ::unlink(link.c_str());
  std::filesystem::remove_all(foreign);

  EXPECT_EQ(ps.rc, 0) << ps.err;
  EXPECT_TRUE(exists(file) && exists(sock) && exists(live));
  EXPECT_EQ(read_text(file), "root's data");
  EXPECT_FALSE(has(ps.out, std::to_string(dead))) << ps.out;
  EXPECT_FALSE(has(ps.out, std::to_string(::getpid()) + " ")) << ps.out;
  EXPECT_FALSE(has(ps.err, "removed")) << ps.err;
  EXPECT_EQ(contains(ps.err, "hotpatch: " + link + ": is not a directory (or is a symlink); ignored\n"), "");
  EXPECT_EQ(contains(ps.err, "hotpatch: " + foreign + ": belongs to uid 0, not to uid "), "");
  EXPECT_FALSE(has(status.err, "removed")) << status.err;
  EXPECT_EQ(status.rc, 0) << status.err;
}

// A file planted in a real socket directory is not a socket: ignored, and never removed.
TEST_F(Security, OnlySocketsOfDeadProcessesAreRemoved) {
  const pid_t dead = dead_pid();
  const std::string planted = control::socket_path(sockets_, dead);
  ASSERT_TRUE(std::ofstream(planted) << "x");
  const std::string stale = control::socket_path(sockets_, dead_pid());
  { ASSERT_TRUE(control::listen_unix(stale, 0600).has_value()); }
  auto ps = hp({"ps"});
  EXPECT_TRUE(exists(planted));
  EXPECT_FALSE(exists(stale));
  EXPECT_EQ(contains(ps.err, "removed the stale control socket of dead process"), "");
}

TEST_F(Security, MalformedAnswerFailsOnlyThatProcess) {
  Child real = start_target(dir_.path() + "/state");
  const std::string pid = std::to_string(real.pid());
  Child wrong_types = start_fake(R"({"hotpatch":1,"ok":true,"result":{"patches":[1],"functions":"many"}})");
  Child not_object = start_fake(R"({"hotpatch":1,"ok":true,"result":[1]})");
  const std::string bad = std::to_string(wrong_types.pid()), bad_too = std::to_string(not_object.pid());

  auto status = hp({"status", "--all"});
  EXPECT_EQ(status.rc, 1);
  EXPECT_EQ(contains(status.err, "hotpatch: process " + bad +
                                     ": answer: is malformed: result.patches[0] is number, not an object [protocol]\n"),
            "");
  EXPECT_EQ(contains(status.err, "hotpatch: process " + bad_too + ": response: has no \"result\" object [protocol]\n"), "");
  EXPECT_EQ(contains(status.out, "process " + pid + ": 0 patch(es), 0 patched function(s)"), "");

  auto json = hp({"status", "--all", "--json"});
  EXPECT_EQ(json.rc, 1);
  EXPECT_EQ(contains(json.out, "\"pid\": " + pid + ",\n    \"ok\": true"), "");
  EXPECT_EQ(contains(json.out, "\"pid\": " + bad + ",\n    \"ok\": false"), "");

  auto ps = hp({"ps"});
  EXPECT_EQ(ps.rc, 1);
  EXPECT_EQ(contains(ps.out, "(no answer: process " + bad + ": answer: is malformed: result.patches is array, not a number)"), "");
  EXPECT_EQ(contains(squeeze_spaces(ps.out), "\n" + pid + " root "), "");

  // The rollout goes on past the malformed processes.
  auto apply = hp({"apply", "--all", "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(apply.rc, 1);
  EXPECT_EQ(contains(apply.out, "process " + pid + ": applied answer version 1 (answer)"), "");
  EXPECT_EQ(contains(apply.err, "hotpatch: process " + bad + ": answer: is malformed"), "");
  EXPECT_TRUE(eventually([&] { return read_text(dir_.path() + "/state") == "43\n"; }));

  auto revert = hp({"revert", "--all", "--all-patches"});
  EXPECT_EQ(revert.rc, 1);
  EXPECT_EQ(contains(revert.out, "process " + pid + ": reverted answer"), "");
}

TEST_F(Security, PsOverAHundredEndpointsWithThreeSilentTakesUnderTwoSeconds) {
  std::vector<Child> fakes;
  std::vector<pid_t> silent;
  for (int i = 0; i < 100; ++i) {
    const bool quiet = i % 33 == 10;
    fakes.emplace_back(std::vector<std::string>{HP_FAKE_ENDPOINT, sockets_,
                                                quiet ? "--silent"
                                                      : R"({"hotpatch":1,"ok":true,"result":{"patches":0,"functions":0,"command":"fake"}})"},
                       Env{}, std::nullopt, dir_.path() + "/fake.log");
    if (quiet) silent.push_back(fakes.back().pid());
  }
  ASSERT_EQ(silent.size(), 3u);
  ASSERT_TRUE(eventually([&] {
    for (const auto& f : fakes)
      if (!exists(control::socket_path(sockets_, f.pid()))) return false;
    return true;
  })) << read_text(dir_.path() + "/fake.log");

  auto start = std::chrono::steady_clock::now();
  auto ps = hp({"ps"});
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "ps over 100 endpoints, 3 silent: " << took << " s\n";
  EXPECT_LE(took, 2.0);
  EXPECT_EQ(ps.rc, 1);
  for (pid_t p : silent) {
    EXPECT_EQ(contains(ps.out, "(no answer: process " + std::to_string(p) + ": did not answer within 1.00 s)"), "");
  }
  for (const auto& f : fakes) EXPECT_TRUE(has(squeeze_spaces(ps.out), "\n" + std::to_string(f.pid()) + " root ")) << f.pid();
}

TEST_F(Security, EscapeSequencesInAnswersAreShownEscaped) {
  Child evil = start_fake(R"({"hotpatch":1,"ok":true,"result":{"patches":0,"command":"evil\u001b[31mred\u0007\u009b2J"}})");
  auto ps = hp({"ps"});
  EXPECT_EQ(ps.rc, 0) << ps.err;
  EXPECT_EQ(contains(ps.out, "evil\\x1b[31mred\\x07\\xc2\\x9b2J"), "");
  EXPECT_FALSE(has(ps.out, "\x1b")) << ps.out;
  auto json = hp({"ps", "--json"});
  EXPECT_EQ(contains(json.out, R"("command": "evil\u001b[31mred\u0007)"), "");

  Child liar = start_fake(
      R"({"hotpatch":1,"ok":false,"error":{"code":"io","subject":"x\u001b]0;owned\u0007","message":"bad\u001b[2J"}})");
  auto status = hp({"status", "--pid", std::to_string(liar.pid())});
  EXPECT_EQ(status.rc, 1);
  EXPECT_EQ(status.err,
            "hotpatch: process " + std::to_string(liar.pid()) + ": x\\x1b]0;owned\\x07: bad\\x1b[2J [io]\n");
}

TEST_F(Security, AllAppliesOnlyWhereTheTargetBuildIsLoaded) {
  const std::string state = dir_.path() + "/state", other_state = dir_.path() + "/other";
  Child target = start_target(state);
  Child other = start_target(other_state, {}, std::nullopt, HP_LINKED_TARGET);
  const std::string pid = std::to_string(target.pid()), other_pid = std::to_string(other.pid());

  auto apply = hp({"apply", "--all", "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(apply.rc, 0) << apply.err;
  EXPECT_EQ(contains(apply.out, "process " + pid + ": applied answer version 1 (answer)\n"), "");
  EXPECT_EQ(contains(apply.out, "process " + other_pid + ": not a target (build "), "");
  EXPECT_FALSE(has(apply.err, other_pid)) << apply.err;
  EXPECT_TRUE(eventually([&] { return read_text(state) == "43\n"; }));
  EXPECT_EQ(read_text(other_state), "42\n");

  auto json = hp({"apply", "--all", "--json", "--allow-unsigned", patches + "/answer_v2.so"});
  EXPECT_EQ(json.rc, 0) << json.err;
  EXPECT_EQ(contains(json.out, "\"pid\": " + other_pid + ",\n    \"ok\": true,\n    \"skipped\": \"not a target\""), "");
  EXPECT_TRUE(eventually([&] { return read_text(state) == "44\n"; }));
}

TEST_F(Security, RootsAllLeavesOtherUsersProcessesAloneUnlessAllUsers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start a process as another user";
  ::chmod(dir_.path().c_str(), 0755);
  const std::string home = dir_.path() + "/nobody";
  ::mkdir(home.c_str(), 0700);
  ASSERT_EQ(::chown(home.c_str(), nobody_uid(), nobody_uid()), 0);
  Child theirs = start_target(home + "/state", {{"HOTPATCH_CONTROL_DIR", home + "/sockets"}}, nobody_uid());
  Child mine = start_target(dir_.path() + "/state");
  const std::string their_pid = std::to_string(theirs.pid()), my_pid = std::to_string(mine.pid());

  auto status = hp({"status", "--all"});
  EXPECT_EQ(status.rc, 0) << status.err;
  EXPECT_EQ(contains(status.out, "process " + my_pid + ":"), "");
  EXPECT_FALSE(has(status.out, "process " + their_pid + ":")) << status.out;

  auto apply = hp({"apply", "--all", "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(apply.rc, 0) << apply.err;
  EXPECT_FALSE(has(apply.out + apply.err, their_pid)) << apply.out << apply.err;
  EXPECT_TRUE(eventually([&] { return read_text(dir_.path() + "/state") == "43\n"; }));
  EXPECT_EQ(read_text(home + "/state"), "42\n");

  auto every = hp({"status", "--all", "--all-users"});
  EXPECT_EQ(every.rc, 0) << every.err;
  EXPECT_EQ(contains(every.out, "process " + their_pid + ": 0 patch(es)"), "");

  auto ps = hp({"ps"});
  EXPECT_EQ(contains(ps.out, their_pid + "  nobody"), "");
}

TEST_F(Security, PsListsProcessesWithTheirOwnControlDirectory) {
  const std::string custom = dir_.path() + "/custom";
  Child target = start_target(dir_.path() + "/state", {{"HOTPATCH_CONTROL_DIR", custom}});
  auto ps = hp({"ps"});
  EXPECT_EQ(ps.rc, 0) << ps.err;
  EXPECT_EQ(contains(squeeze_spaces(ps.out), "\n" + std::to_string(target.pid()) + " root "), "");
  EXPECT_EQ(hp({"status", "--pid", std::to_string(target.pid())}).rc, 0);

  if (::geteuid() != 0) return;
  // The same directory handed to another user is no longer trusted for root's process.
  ASSERT_EQ(::chown(custom.c_str(), nobody_uid(), nobody_uid()), 0);
  auto refused = hp({"ps"});
  EXPECT_FALSE(has(squeeze_spaces(refused.out), "\n" + std::to_string(target.pid()) + " root ")) << refused.out;
  EXPECT_EQ(contains(refused.err, "hotpatch: " + custom + ": belongs to uid " + std::to_string(nobody_uid()) +
                                      ", not to uid 0; ignored\n"),
            "");
  auto direct = hp({"status", "--pid", std::to_string(target.pid())});
  EXPECT_EQ(direct.rc, 2) << direct.err;
}

TEST(TerminalText, EscapesControlsC1AndInvalidUtf8) {
  EXPECT_EQ(cli::printable("plain text, tabs\tand ünïcödé"), "plain text, tabs\tand ünïcödé");
  EXPECT_EQ(cli::printable("a\x1b[31mb\r\n\x7f"), "a\\x1b[31mb\\x0d\\x0a\\x7f");
  EXPECT_EQ(cli::printable("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
  EXPECT_EQ(cli::printable("bad \xff\xc3 end"), "bad \\xff\\xc3 end");
  EXPECT_EQ(cli::printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong '/'
  EXPECT_EQ(cli::printable(std::string("nul\0x", 5)), "nul\\x00x");
}

}  // namespace
}  // namespace hotpatch::test
