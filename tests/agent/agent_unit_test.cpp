// The agent's parts on their own: its configuration file, its state file, how it finds processes
// by build-id and how it runs a health command.
#include "agent/agent_config.hpp"
#include "agent/agent_state.hpp"
#include "agent/health.hpp"
#include "agent/process_scan.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::agent {
namespace {

using namespace std::chrono_literals;

class AgentFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hp-agent-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(AgentFiles, ConfigurationReadsEveryKeyAndListsAddUp) {
  const auto path = write("agent.conf",
                          "# comment\n"
                          "registry = https://a.example/r\n"
                          "registry = https://b.example/r\n"
                          "name = prod\n"
                          "pubkey = /etc/hotpatch/one.pub, /etc/hotpatch/two.pub\n"
                          "host_id = web-17\n"
                          "state_dir = /var/lib/x\n"
                          "interval = 120\n"
                          "scan_interval = 2\n"
                          "users = root, 33\n"
                          "programs = /usr/sbin/nginx /usr/bin/redis-server\n"
                          "health_seconds = 30\n"
                          "health_interval = 3\n"
                          "health_command = curl -fsS http://127.0.0.1/health\n"
                          "health_timeout = 4\n"
                          "runtime = /usr/lib/libhotpatch.so.0\n"
                          "attach_wait_ms = 2500\n");
  AgentConfig c;
  c.registries = {"https://default.example/"};  // replaced, not added to
  ASSERT_TRUE(read_config_file(path, c));
  EXPECT_EQ(c.registries, (std::vector<std::string>{"https://a.example/r", "https://b.example/r"}));
  EXPECT_EQ(c.registry_name, "prod");
  EXPECT_EQ(c.pubkeys, (std::vector<std::string>{"/etc/hotpatch/one.pub", "/etc/hotpatch/two.pub"}));
  EXPECT_EQ(c.host_id, "web-17");
  EXPECT_EQ(c.state_dir, "/var/lib/x");
  EXPECT_EQ(c.interval, 120s);
  EXPECT_EQ(c.scan_interval, 2s);
  EXPECT_EQ(c.users, (std::vector<std::string>{"root", "33"}));
  EXPECT_EQ(c.programs, (std::vector<std::string>{"/usr/sbin/nginx", "/usr/bin/redis-server"}));
  EXPECT_EQ(c.health_seconds, 30s);
  EXPECT_EQ(c.health_interval, 3s);
  EXPECT_EQ(c.health_command, "curl -fsS http://127.0.0.1/health");
  EXPECT_EQ(c.health_timeout, 4s);
  EXPECT_EQ(c.runtime, "/usr/lib/libhotpatch.so.0");
  EXPECT_EQ(c.attach_wait, 2500ms);
  EXPECT_TRUE(check_config(c));
  auto uids = configured_uids(c);
  ASSERT_TRUE(uids);
  EXPECT_EQ(*uids, (std::vector<uid_t>{0, 33}));
}

TEST_F(AgentFiles, ConfigurationErrorsNameTheLine) {
  AgentConfig c;
  auto e = read_config_file(write("a.conf", "name = x\njust words\n"), c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("a.conf:2: is not a 'key = value' line"), std::string::npos) << e.error().what();
  e = read_config_file(write("b.conf", "health_seconds = -1\n"), c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("b.conf:1: '-1' is not a whole number of seconds from 0 to 86400"), std::string::npos)
      << e.error().what();
  e = read_config_file(write("c.conf", "name = x\n", 0620), c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("is writable by group or others"), std::string::npos) << e.error().what();
  e = read_config_file(dir_ + "/missing.conf", c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("missing.conf: cannot be read: No such file or directory"), std::string::npos);
}

TEST(AgentConfigCheck, SaysWhatIsMissing) {
  AgentConfig c;
  auto e = check_config(c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("no registry"), std::string::npos);
  c.registries = {"https://r.example/"};
  e = check_config(c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("no registry name"), std::string::npos);
  c.registry_name = "prod";
  c.pubkeys = {"/k.pub"};
  c.programs = {"nginx"};
  e = check_config(c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("'nginx' must be an absolute path"), std::string::npos);
  c.programs.clear();
  c.state_dir = "state";
  e = check_config(c);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().what().find("'state' must be an absolute path"), std::string::npos);
}

TEST_F(AgentFiles, StateSurvivesARestartAndRemembersWhatWasTakenBack) {
  AgentState s;
  s.host_id = "web-17";
  s.registry = "prod";
  s.index_version = 9;
  s.last_pass = 1'800'000'000;
  s.patched.push_back({1234, 5678, "/usr/sbin/nginx", "fix", 2, 100, 160, 105, false, true});
  s.taken_back.push_back({"fix", 1, 99, "/usr/sbin/nginx", "the health command exited with 3", 50});
  s.first_taken["fix@2"] = 90;
  {
    auto store = StateStore::open(dir_ + "/agent");
    ASSERT_TRUE(store) << store.error().what();
    ASSERT_TRUE(store->save(s));
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/agent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto store = StateStore::open(dir_ + "/agent");
  ASSERT_TRUE(store);
  auto back = store->load();
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ(state_to_json(*back), state_to_json(s));
  ASSERT_NE(back->taken_back_for("fix", 1), nullptr);
  EXPECT_EQ(back->taken_back_for("fix", 1)->reason, "the health command exited with 3");
  EXPECT_EQ(back->taken_back_for("fix", 2), nullptr);
  auto read = StateStore::read_only(dir_ + "/agent");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->patched.at(0).pid, 1234);
}

TEST_F(AgentFiles, AStateDirectoryOthersCanWriteIsRefused) {
  ASSERT_EQ(::mkdir((dir_ + "/open").c_str(), 0777), 0);
  ASSERT_EQ(::chmod((dir_ + "/open").c_str(), 0777), 0);
  auto store = StateStore::open(dir_ + "/open");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().what().find("open: is writable by group or others"), std::string::npos);
  ASSERT_EQ(::symlink(dir_.c_str(), (dir_ + "/link").c_str()), 0);
  store = StateStore::open(dir_ + "/link");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().what().find("is not a directory (a symbolic link is refused)"), std::string::npos);
}

// A child running /bin/sleep: the scanner finds it by the build-id of the sleep program.
TEST(ProcessScan, FindsAProcessByABuildIdItHasMapped) {
  FILE* p = ::popen("readelf -n /bin/sleep | sed -n 's/.*Build ID: //p'", "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {};
  ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
  ::pclose(p);
  std::string id(buf);
  id.erase(id.find_last_not_of(" \n") + 1);
  ASSERT_FALSE(id.empty());
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(200ms);
  char exe[256] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(child) + "/exe").c_str(), exe, sizeof exe - 1), 0);
  ProcessScanner scanner({}, {exe});
  auto found = scanner.scan({id, "00ff"});
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].pid, child);
  EXPECT_EQ(found[0].program, exe);
  EXPECT_EQ(found[0].build_ids, std::set<std::string>{id});
  EXPECT_EQ(found[0].uid, ::getuid());
  // Nothing wanted: no process is read at all.
  EXPECT_TRUE(scanner.scan({}).empty());
}

TEST(Health, TheCommandSeesWhichProcessAndPatchAndItsExitDecides) {
  PatchedProcess p;
  p.pid = ::getpid();
  p.id = "fix";
  p.version = 7;
  auto start = process_start_time(::getpid());
  ASSERT_TRUE(start);
  p.start_time = *start;
  EXPECT_FALSE(process_problem(p));
  EXPECT_FALSE(run_health_command(
      "test \"$HOTPATCH_PID\" = " + std::to_string(::getpid()) + " && test \"$HOTPATCH_PATCH_ID\" = fix && "
      "test \"$HOTPATCH_PATCH_VERSION\" = 7", p, 5s));
  auto bad = run_health_command("exit 4", p, 5s);
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, "the health command exited with 4");
  const auto before = std::chrono::steady_clock::now();
  auto slow = run_health_command("sleep 30", p, 1s);
  ASSERT_TRUE(slow);
  EXPECT_EQ(*slow, "the health command did not finish within 1 s");
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
  p.start_time += 1;  // another process under the same pid
  auto other = process_problem(p);
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, "process " + std::to_string(::getpid()) + " exited (its pid now names another process)");
}

}  // namespace
}  // namespace hotpatch::agent
