// The `hotpatch` CLI against programs started with LD_PRELOAD=libhotpatch.so (and one that enables
// control with the C call): listing, patching, reverting, and every refusal with its message.
#include "control/socket_dir.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace hotpatch::test {
namespace {

using namespace std::chrono_literals;

const std::string cli = HP_CLI;
const std::string patches = HP_CONTROL_PATCHES;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    // These tests are about the CLI and the endpoint; tests/control/trust_test.cpp covers signatures.
    env_ = {{"HOTPATCH_CONTROL_DIR", dir_.path() + "/sockets"}, {"HOTPATCH_LOG", "off"}, {"HOTPATCH_ALLOW_UNSIGNED", "1"}};
    state_ = dir_.path() + "/state";
  }

  Child start_target(const std::string& program = HP_TARGET, bool preload = true) {
    Env env = env_;
    if (preload) {
      env["LD_PRELOAD"] = HP_LIBHOTPATCH;
      env["HOTPATCH_CONTROL"] = "1";
    }
    ::unlink(state_.c_str());
    Child c({program, state_}, env, std::nullopt, dir_.path() + "/target.log");
    std::string sock = control::socket_path(env_["HOTPATCH_CONTROL_DIR"], c.pid());
    const bool controlled = preload || program == HP_LINKED_TARGET;
    EXPECT_TRUE(eventually([&] { return (exists(sock) || !controlled) && !answer().empty(); }))
        << read_text(dir_.path() + "/target.log");
    return c;
  }

  std::string answer() {
    std::string s = read_text(state_);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  bool answer_becomes(const std::string& value) {
    return eventually([&] { return answer() == value; }, 3s);
  }

  RunResult hp(std::vector<std::string> args, std::optional<uid_t> uid = std::nullopt) {
    args.insert(args.begin(), cli);
    return run(args, env_, uid);
  }

  TempDir dir_;
  Env env_;
  std::string state_;
};

TEST_F(Cli, PsStatusApplyRevertOnAPreloadedProgram) {
  Child target = start_target();
  const std::string pid = std::to_string(target.pid());

  auto ps = hp({"ps"});
  EXPECT_EQ(ps.rc, 0) << ps.err;
  EXPECT_NE(ps.out.find("PID"), std::string::npos);
  EXPECT_NE(squeeze_spaces(ps.out).find("\n" + pid + " root "), std::string::npos) << ps.out;

  auto apply = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(apply.rc, 0) << apply.err;
  EXPECT_EQ(apply.out, "process " + pid + ": applied answer version 1 (answer)\n");
  EXPECT_TRUE(answer_becomes("43"));

  auto status = hp({"status", "--pid", pid});
  EXPECT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("process " + pid + ": 1 patch(es), 1 patched function(s)"), std::string::npos);
  EXPECT_NE(status.out.find(patches + "/answer_v1.so"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("answer    hp_control_target  1        answer"), std::string::npos) << status.out;

  auto json = hp({"status", "--pid", pid, "--json"});
  EXPECT_EQ(json.rc, 0);
  EXPECT_NE(json.out.find("\"patch_id\": \"answer\""), std::string::npos) << json.out;

  auto v2 = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v2.so"});
  EXPECT_EQ(v2.rc, 0) << v2.err;
  EXPECT_TRUE(answer_becomes("44"));

  auto listing = hp({"ps", "--json"});
  EXPECT_NE(listing.out.find("\"answer@2\""), std::string::npos) << listing.out;

  // Version 2 stacks on version 1: each revert steps one version down.
  auto revert = hp({"revert", "--pid", pid, "answer"});
  EXPECT_EQ(revert.rc, 0) << revert.err;
  EXPECT_EQ(revert.out, "process " + pid + ": reverted answer\n");
  EXPECT_TRUE(answer_becomes("43"));
  EXPECT_EQ(hp({"revert", "--pid", pid, "answer"}).rc, 0);
  EXPECT_TRUE(answer_becomes("42"));

  auto again = hp({"revert", "--pid", pid, "answer"});
  EXPECT_EQ(again.rc, 1);
  EXPECT_EQ(again.err, "hotpatch: process " + pid + ": patch 'answer': is not applied [not_applied]\n");
}

TEST_F(Cli, AllActsOnEveryProcessAndRevertAllPatches) {
  Child a = start_target();
  std::string state_a = state_;
  state_ = dir_.path() + "/state-b";
  Child b = start_target();
  auto apply = hp({"apply", "--all", "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(apply.rc, 0) << apply.err;
  EXPECT_NE(apply.out.find("process " + std::to_string(a.pid()) + ": applied answer version 1"), std::string::npos);
  EXPECT_NE(apply.out.find("process " + std::to_string(b.pid()) + ": applied answer version 1"), std::string::npos);
  EXPECT_TRUE(answer_becomes("43"));
  auto revert = hp({"revert", "--all", "--all-patches", "--json"});
  EXPECT_EQ(revert.rc, 0) << revert.err;
  EXPECT_NE(revert.out.find("\"reverted\": [\n        \"answer\""), std::string::npos) << revert.out;
  EXPECT_TRUE(answer_becomes("42"));
}

// `revert --all ID` reverts the patch wherever it is applied; a process that never had it is passed
// over, not failed. A patch id applied nowhere is a mistake and says so.
TEST_F(Cli, RevertAllPassesOverProcessesWithoutThePatch) {
  Child a = start_target();
  state_ = dir_.path() + "/state-b";
  Child b = start_target();
  const std::string pa = std::to_string(a.pid()), pb = std::to_string(b.pid());
  ASSERT_EQ(hp({"apply", "--pid", pa, "--allow-unsigned", patches + "/answer_v1.so"}).rc, 0);
  auto revert = hp({"revert", "--all", "answer"});
  EXPECT_EQ(revert.rc, 0) << revert.err;
  EXPECT_NE(revert.out.find("process " + pa + ": reverted answer"), std::string::npos) << revert.out;
  EXPECT_NE(revert.out.find("process " + pb + ": patch 'answer': is not applied, nothing to do"), std::string::npos)
      << revert.out;
  auto nowhere = hp({"revert", "--all", "answer"});
  EXPECT_EQ(nowhere.rc, 1);
  EXPECT_NE(nowhere.err.find("hotpatch: patch 'answer': is applied in none of the 2 process(es) [not_applied]"),
            std::string::npos)
      << nowhere.err;
}

TEST_F(Cli, PatchForAnotherBuildIsRefusedAndTheTargetRunsOn) {
  Child target = start_target();
  const std::string pid = std::to_string(target.pid());
  auto r = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/wrong_build.so"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("hotpatch: process " + pid + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[wrong_build]"), std::string::npos) << r.err;
  auto not_a_patch = hp({"apply", "--pid", pid, "--allow-unsigned", HP_TARGET});
  EXPECT_EQ(not_a_patch.rc, 1);
  EXPECT_NE(not_a_patch.err.find("[malformed_patch]"), std::string::npos) << not_a_patch.err;
  EXPECT_EQ(hp({"status", "--pid", pid}).rc, 0);
  EXPECT_EQ(answer(), "42");
}

TEST_F(Cli, TargetExitingMidRequestIsReported) {
  Child target = start_target();
  const std::string pid = std::to_string(target.pid());
  auto r = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/exit_on_load.so"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "hotpatch: process " + pid + ": exited before answering [io]\n");
  int status = target.wait(2s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

TEST_F(Cli, ProcessesThatCannotBeControlled) {
  auto missing = hp({"status", "--pid", "999999999"});
  EXPECT_EQ(missing.rc, 2);
  EXPECT_EQ(missing.err, "hotpatch: process 999999999: does not exist [invalid_argument]\n");

  Child plain = start_target(HP_TARGET, /*preload=*/false);
  auto none = hp({"status", "--pid", std::to_string(plain.pid())});
  EXPECT_EQ(none.rc, 2);
  EXPECT_EQ(none.err, "hotpatch: process " + std::to_string(plain.pid()) +
                          ": has no control endpoint (start it with LD_PRELOAD=libhotpatch.so HOTPATCH_CONTROL=1, or "
                          "have it call hotpatch::enable_control()) [invalid_argument]\n");

  auto usage = hp({"status"});
  EXPECT_EQ(usage.rc, 2);
  EXPECT_NE(usage.err.find("Exactly 1 option from [--pid,--all] is required"), std::string::npos) << usage.err;
  auto all_users = hp({"status", "--pid", "1", "--all-users"});
  EXPECT_EQ(all_users.rc, 2);
  EXPECT_NE(all_users.err.find("--all-users requires --all"), std::string::npos) << all_users.err;
  auto both = hp({"update", "--pid", "1", "--all"});
  EXPECT_EQ(both.rc, 2);
  EXPECT_NE(both.err.find("Exactly 1 option from [--pid,--all] is required and 2 were given"), std::string::npos)
      << both.err;
}

// The CLI and the project's own libraries it loads, copied where every user may run them: the
// build tree may sit where another user cannot enter (a checkout under /root).
std::string cli_everyone_can_run(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string copy = dir + "/hotpatch";
  fs::copy_file(cli, copy, fs::copy_options::overwrite_existing);
  std::string libs;
  if (FILE* p = ::popen(("ldd '" + cli + "'").c_str(), "r")) {
    char line[1024];
    while (std::fgets(line, sizeof line, p) != nullptr) {
      const char* arrow = std::strstr(line, "=> /");
      if (arrow == nullptr) continue;
      std::string path(arrow + 3);
      path = path.substr(0, path.find(' '));
      if (path.rfind("/lib", 0) == 0 || path.rfind("/usr/", 0) == 0) continue;  // system libraries
      fs::copy_file(path, dir + "/" + fs::path(path).filename().string(), fs::copy_options::overwrite_existing);
    }
    ::pclose(p);
  }
  ::chmod(dir.c_str(), 0755);
  return copy;
}

TEST_F(Cli, AnotherUsersProcessIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the CLI as another user";
  Child target = start_target();
  ::chmod(dir_.path().c_str(), 0755);
  TempDir bin;
  const std::string copy = cli_everyone_can_run(bin.path());
  Env env = env_;
  env["LD_LIBRARY_PATH"] = bin.path();
  auto r = run({copy, "status", "--pid", std::to_string(target.pid())}, env, nobody_uid());
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "hotpatch: process " + std::to_string(target.pid()) +
                       ": belongs to uid 0; only that user or root may control it [permission]\n");
}

TEST_F(Cli, StaleSocketOfAKilledProcessIsCleanedUp) {
  Child target = start_target();
  const pid_t pid = target.pid();
  const std::string sock = control::socket_path(env_["HOTPATCH_CONTROL_DIR"], pid);
  target.kill_and_wait();
  ASSERT_TRUE(exists(sock));
  auto ps = hp({"ps"});
  EXPECT_EQ(ps.rc, 0);
  // Other enabled processes on the machine (tests running in parallel) may be listed too.
  EXPECT_NE(ps.err.find("hotpatch: removed the stale control socket of dead process " + std::to_string(pid) + " (" +
                        sock + ")\n"),
            std::string::npos)
      << ps.err;
  EXPECT_EQ(ps.out.find("\n" + std::to_string(pid) + " "), std::string::npos) << ps.out;
  EXPECT_FALSE(exists(sock));
}

TEST_F(Cli, ProgramLinkingTheRuntimeEnablesControlWithOneCall) {
  Child target = start_target(HP_LINKED_TARGET, /*preload=*/false);
  const std::string pid = std::to_string(target.pid());
  auto r = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/linked_answer_v1.so"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(answer_becomes("43"));
}

TEST_F(Cli, RegistryPollerAndUpdateApplyPublishedPatches) {
  const std::string reg = dir_.path() + "/registry";
  ASSERT_EQ(hp({"keygen", "-s", dir_.path() + "/reg.key", "-p", dir_.path() + "/reg.pub"}).rc, 0);
  auto published = hp({"publish", "--registry", reg, "--key", dir_.path() + "/reg.key", "--name", "fleet",
                       patches + "/answer_v1.so"});
  ASSERT_EQ(published.rc, 0) << published.err;
  env_["HOTPATCH_REGISTRY_URL"] = "file://" + reg;
  env_["HOTPATCH_REGISTRY_NAME"] = "fleet";
  env_["HOTPATCH_TRUSTED_KEY"] = dir_.path() + "/reg.pub";
  env_["HOTPATCH_CACHE_DIR"] = dir_.path() + "/cache-update";

  // Without polling, `hotpatch update` makes the process fetch and apply.
  Child manual = start_target();
  EXPECT_EQ(answer(), "42");
  auto update = hp({"update", "--pid", std::to_string(manual.pid())});
  EXPECT_EQ(update.rc, 0) << update.err;
  EXPECT_NE(update.out.find("process " + std::to_string(manual.pid()) + ": applied answer version 1"), std::string::npos)
      << update.out;
  EXPECT_TRUE(answer_becomes("43"));
  manual.kill_and_wait();

  // With a poll interval, the process picks the patch up by itself and logs it.
  env_["HOTPATCH_CACHE_DIR"] = dir_.path() + "/cache-poll";
  env_["HOTPATCH_POLL_SECONDS"] = "1";
  env_["HOTPATCH_LOG_FILE"] = dir_.path() + "/poll.log";
  state_ = dir_.path() + "/state-poll";
  Child polling = start_target();
  EXPECT_TRUE(answer_becomes("43")) << read_text(dir_.path() + "/poll.log");
  EXPECT_TRUE(eventually([&] {
    return read_text(dir_.path() + "/poll.log").find("registry (poll): applied answer version 1") != std::string::npos;
  })) << read_text(dir_.path() + "/poll.log");
}

// A pre-forked worker polls the registry by itself: its fork handler only bound its socket and
// started its endpoint's thread, which started the poller and made the registry client once fork()
// had returned. The patch is published after the fork, so only the worker's own poller can apply it.
TEST_F(Cli, ForkedWorkerPollsTheRegistryByItself) {
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer does not support threads started in the child of a multi-threaded fork";
#endif
  const std::string reg = dir_.path() + "/registry";
  ASSERT_EQ(hp({"keygen", "-s", dir_.path() + "/reg.key", "-p", dir_.path() + "/reg.pub"}).rc, 0);
  ASSERT_EQ(hp({"publish", "--registry", reg, "--key", dir_.path() + "/reg.key", "--name", "fleet",
                patches + "/missing_symbol.so"}).rc, 0);
  Env env = env_;
  env["LD_PRELOAD"] = HP_LIBHOTPATCH;
  env["HOTPATCH_CONTROL"] = "1";
  env["HOTPATCH_REGISTRY_URL"] = "file://" + reg;
  env["HOTPATCH_REGISTRY_NAME"] = "fleet";
  env["HOTPATCH_TRUSTED_KEY"] = dir_.path() + "/reg.pub";
  env["HOTPATCH_CACHE_DIR"] = dir_.path() + "/cache";
  env["HOTPATCH_POLL_SECONDS"] = "1";
  const std::string worker_state = state_ + ".worker";
  Child master({HP_TARGET, state_, "fork"}, env, std::nullopt, dir_.path() + "/target.log");
  ASSERT_TRUE(eventually([&] { return read_text(worker_state) == "42\n"; }, 10s)) << read_text(dir_.path() + "/target.log");

  ASSERT_EQ(hp({"publish", "--registry", reg, "--key", dir_.path() + "/reg.key", "--name", "fleet",
                patches + "/answer_v1.so"}).rc, 0);
  EXPECT_TRUE(eventually([&] { return read_text(worker_state) == "43\n"; }, 15s))
      << read_text(worker_state) << read_text(dir_.path() + "/target.log");
}

// A process that refuses a patch it found is not up to date: exit code 1 with the reason, in the
// human output and with --json alike; the other patches still apply.
TEST_F(Cli, UpdateThatRefusesAPatchExitsWithRefused) {
  const std::string reg = dir_.path() + "/registry";
  ASSERT_EQ(hp({"keygen", "-s", dir_.path() + "/reg.key", "-p", dir_.path() + "/reg.pub"}).rc, 0);
  ASSERT_EQ(hp({"publish", "--registry", reg, "--key", dir_.path() + "/reg.key", "--name", "fleet",
                patches + "/answer_v1.so", patches + "/missing_symbol.so"}).rc, 0);
  env_["HOTPATCH_REGISTRY_URL"] = "file://" + reg;
  env_["HOTPATCH_REGISTRY_NAME"] = "fleet";
  env_["HOTPATCH_TRUSTED_KEY"] = dir_.path() + "/reg.pub";
  env_["HOTPATCH_CACHE_DIR"] = dir_.path() + "/cache";
  Child target = start_target();
  const std::string pid = std::to_string(target.pid());

  auto text = hp({"update", "--pid", pid});
  EXPECT_EQ(text.rc, 1) << text.out << text.err;
  EXPECT_NE(text.out.find("process " + pid + ": applied answer version 1"), std::string::npos) << text.out;
  EXPECT_NE(text.err.find("process " + pid + ": missing-symbol refused: "), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("no_such_function_in_the_target"), std::string::npos) << text.err;
  EXPECT_TRUE(answer_becomes("43"));

  auto json = hp({"update", "--pid", pid, "--json"});
  EXPECT_EQ(json.rc, 1) << json.out << json.err;
  EXPECT_NE(json.out.find("\"failed\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("no_such_function_in_the_target"), std::string::npos) << json.out;
}

}  // namespace
}  // namespace hotpatch::test
