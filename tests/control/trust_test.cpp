// The trust boundary, tried as an attacker would: a process runs only patches signed by keys it
// pins itself, loads only the sealed bytes it verified, reads its keys without blocking, and logs
// who asked for what. Each test reproduces one attack and checks the refusal's message.
#include "control/client.hpp"
#include "control/socket_dir.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace hotpatch::test {
namespace {

using namespace std::chrono_literals;

const std::string cli = HP_CLI;
const std::string patches = HP_CONTROL_PATCHES;

class Trust : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = {{"HOTPATCH_CONTROL_DIR", dir_.path() + "/sockets"}, {"HOTPATCH_LOG", "off"}};
    state_ = dir_.path() + "/state";
    log_ = dir_.path() + "/target.log";
  }

  // Starts the preloaded target with `extra` on top of the fixture's environment and waits until
  // it runs main() (and serves its socket when `expect_socket`).
  Child start_target(const Env& extra = {}, bool expect_socket = true) {
    Env env = env_;
    env["LD_PRELOAD"] = HP_LIBHOTPATCH;
    env["HOTPATCH_CONTROL"] = "1";
    for (const auto& [k, v] : extra) env[k] = v;
    Child c({HP_TARGET, state_}, env, std::nullopt, log_);
    std::string sock = control::socket_path(env_["HOTPATCH_CONTROL_DIR"], c.pid());
    EXPECT_TRUE(eventually([&] { return (exists(sock) || !expect_socket) && !answer().empty(); })) << read_text(log_);
    return c;
  }

  std::string answer() {
    std::string s = read_text(state_);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  RunResult hp(std::vector<std::string> args) {
    args.insert(args.begin(), cli);
    return run(args, env_);
  }

  // A key pair made with the CLI; returns the .pub path.
  std::string keygen(const std::string& name) {
    auto r = hp({"keygen", "-s", dir_.path() + "/" + name + ".key", "-p", dir_.path() + "/" + name + ".pub"});
    EXPECT_EQ(r.rc, 0) << r.err;
    return dir_.path() + "/" + name + ".pub";
  }

  // A copy of a test patch, signed with `key` by `hotpatch sign`.
  std::string signed_copy(const std::string& patch, const std::string& key) {
    const std::string copy = dir_.path() + "/" + patch;
    std::filesystem::copy_file(patches + "/" + patch, copy, std::filesystem::copy_options::overwrite_existing);
    auto r = hp({"sign", "--key", dir_.path() + "/" + key + ".key", copy});
    EXPECT_EQ(r.rc, 0) << r.err;
    return copy;
  }

  TempDir dir_;
  Env env_;
  std::string state_;
  std::string log_;
};

TEST_F(Trust, ProcessWithoutAPinnedKeyRefusesEveryApply) {
  keygen("ops");
  const std::string patch = signed_copy("answer_v1.so", "ops");
  Child target = start_target();
  const std::string pid = std::to_string(target.pid());
  const std::string refusal =
      ": refused: this process pins no signing key, so it accepts no patch over its control socket; start it with "
      "HOTPATCH_TRUSTED_KEY=/path/to/key.pub (or a key directory), or pass trusted_keys to enable_control() "
      "(HOTPATCH_ALLOW_UNSIGNED=1 accepts unsigned patches, for development only) [signature]\n";

  auto signed_ = hp({"apply", "--pid", pid, "--pubkey", dir_.path() + "/ops.pub", patch});
  EXPECT_EQ(signed_.rc, 1);
  EXPECT_EQ(signed_.err, "hotpatch: process " + pid + ": " + patch + refusal);
  auto unsigned_ = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(unsigned_.rc, 1);
  EXPECT_EQ(unsigned_.err, "hotpatch: process " + pid + ": " + patches + "/answer_v1.so" + refusal);
  EXPECT_EQ(answer(), "42");
  // Reading the patch level stays open to the owner.
  EXPECT_EQ(hp({"status", "--pid", pid}).rc, 0);
}

TEST_F(Trust, AllowUnsignedWorksOnlyAgainstAProcessThatOptedIn) {
  const std::string pub = keygen("ops");
  Child pinned = start_target({{"HOTPATCH_TRUSTED_KEY", pub}});
  const std::string pid = std::to_string(pinned.pid());
  auto r = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(": refused: this process accepts only patches signed by key "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; --allow-unsigned works only against a process started with HOTPATCH_ALLOW_UNSIGNED=1 "
                       "[signature]\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(answer(), "42");
  pinned.kill_and_wait();

  Child dev = start_target({{"HOTPATCH_ALLOW_UNSIGNED", "1"}});
  auto ok = hp({"apply", "--pid", std::to_string(dev.pid()), "--allow-unsigned", patches + "/answer_v1.so"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_TRUE(eventually([&] { return answer() == "43"; }, 3s));
}

TEST_F(Trust, KeyTheProcessDoesNotPinIsRefusedEvenWhenTheCliTrustsIt) {
  const std::string pinned_pub = keygen("pinned");
  const std::string other_pub = keygen("other");
  const std::string patch = signed_copy("answer_v1.so", "other");
  Child target = start_target({{"HOTPATCH_TRUSTED_KEY", pinned_pub}});
  const std::string pid = std::to_string(target.pid());
  auto r = hp({"apply", "--pid", pid, "--pubkey", other_pub, patch});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("hotpatch: process " + pid + ": " + patch + ": is signed by key "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", which this process does not pin (it accepts key "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[untrusted_key]"), std::string::npos) << r.err;
  EXPECT_EQ(answer(), "42");
}

TEST_F(Trust, PatchSignedByAPinnedKeyAppliesAndIsAudited) {
  const std::string a = keygen("a");
  const std::string b = keygen("b");
  // Two keys pinned, separated by a comma: either one is accepted.
  env_["HOTPATCH_LOG"] = "info";
  Child target = start_target({{"HOTPATCH_TRUSTED_KEY", a + "," + b}, {"HOTPATCH_LOG_FILE", dir_.path() + "/audit.log"}});
  const std::string pid = std::to_string(target.pid());
  const std::string patch = signed_copy("answer_v1.so", "b");
  auto r = hp({"apply", "--pid", pid, patch});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(eventually([&] { return answer() == "43"; }, 3s));
  ASSERT_EQ(hp({"revert", "--pid", pid, "answer"}).rc, 0);

  std::string audit = read_text(dir_.path() + "/audit.log");
  const std::string who = "requested by pid ";
  EXPECT_NE(audit.find("control: applied answer version 1 from " + patch + " (sha256 "), std::string::npos) << audit;
  EXPECT_NE(audit.find(", signed by key "), std::string::npos) << audit;
  EXPECT_NE(audit.find("control: reverted answer (sha256 "), std::string::npos) << audit;
  EXPECT_NE(audit.find(" uid 0"), std::string::npos) << audit;
  // The sha256 logged is the one of the bytes sent.
  auto digest = run({"sha256sum", patch});
  ASSERT_EQ(digest.rc, 0);
  EXPECT_NE(audit.find("sha256 " + digest.out.substr(0, 64)), std::string::npos) << audit;
}

TEST_F(Trust, BytesThatDoNotMatchTheirSignatureAreRefusedByTheProcess) {
  const std::string pub = keygen("ops");
  const std::string patch = signed_copy("answer_v1.so", "ops");
  std::ofstream(patch, std::ios::app) << "tampered";
  Child target = start_target({{"HOTPATCH_TRUSTED_KEY", pub}});
  // No --pubkey: the CLI does not check, so the process is the one that must refuse.
  auto r = hp({"apply", "--pid", std::to_string(target.pid()), patch});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(patch + ": its signature by key "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" does not match the patch bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[signature]"), std::string::npos) << r.err;
  EXPECT_EQ(answer(), "42");

  // The CLI's own check still gives the early error when it has the key.
  auto early = hp({"apply", "--pid", std::to_string(target.pid()), "--pubkey", pub, patch});
  EXPECT_EQ(early.rc, 1);
  EXPECT_NE(early.err.find(patch + ": signature " + patch + ".minisig does not match"), std::string::npos)
      << early.err;

  auto missing = hp({"apply", "--pid", std::to_string(target.pid()), patches + "/answer_v2.so"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "hotpatch: " + patches + "/answer_v2.so: has no readable signature " + patches +
                             "/answer_v2.so.minisig (sign it with `hotpatch sign --key KEY " + patches +
                             "/answer_v2.so`; --allow-unsigned works only against a process started with "
                             "HOTPATCH_ALLOW_UNSIGNED=1) [signature]\n");
}

// The process must load exactly what it verified: a descriptor whose content can still change
// (an unsealed memfd, a plain file, a pipe, an O_PATH descriptor) is refused before it is read.
TEST_F(Trust, OnlySealedMemfdsAreAccepted) {
  Child target = start_target({{"HOTPATCH_ALLOW_UNSIGNED", "1"}});
  const std::string patch = patches + "/answer_v1.so";
  const std::string bytes = read_text(patch);
  control::Request apply;
  apply.op = control::Op::apply;
  apply.source = "attack";
  apply.allow_unsigned = true;
  auto send = [&](int fd) {
    control::CallOptions o;
    o.pass_fd = fd;
    auto r = control::call_pid(target.pid(), apply, o);
    EXPECT_TRUE(r.has_value()) << r.error().what();
    return r ? *r : control::Response{};
  };
  const std::string refusal =
      "the attached descriptor is not a sealed memory file (memfd sealed against write, shrink and grow), so its "
      "bytes could change after they are checked; refused";

  int unsealed = ::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(::write(unsealed, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  auto r1 = send(unsealed);
  EXPECT_FALSE(r1.ok);
  EXPECT_EQ(r1.error.what(), "attack: " + refusal);
  // Sealed against write only: it could still grow after the check.
  ASSERT_EQ(::fcntl(unsealed, F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_EQ(send(unsealed).error.message, refusal);
  ::close(unsealed);

  int plain = ::open(patch.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(send(plain).error.message, refusal);
  ::close(plain);
  int opath = ::open(patch.c_str(), O_PATH | O_CLOEXEC);
  EXPECT_EQ(send(opath).error.message, refusal);
  ::close(opath);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  EXPECT_EQ(send(pipe_fds[0]).error.message, refusal);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_EQ(answer(), "42");

  int sealed = ::memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(::write(sealed, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW), 0);
  auto ok = send(sealed);
  EXPECT_TRUE(ok.ok) << ok.error.what();
  ::close(sealed);
  EXPECT_TRUE(eventually([&] { return answer() == "43"; }, 3s));
}

// HOTPATCH_TRUSTED_KEY is read once, in the preload constructor: nothing there may block, and a
// key file someone else could write is no pin at all.
TEST_F(Trust, BadKeyFilesAreClearErrorsNamingTheVariableAndNeverBlock) {
  const std::string pub = keygen("ops");
  env_["HOTPATCH_LOG"] = "info";
  auto expect_refused = [&](const std::string& spec, const std::string& message) {
    ::truncate(log_.c_str(), 0);
    state_ = dir_.path() + "/state-" + std::to_string(::rand());
    auto started = std::chrono::steady_clock::now();
    Child target = start_target({{"HOTPATCH_TRUSTED_KEY", spec}}, /*expect_socket=*/false);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    EXPECT_TRUE(eventually([&] { return read_text(log_).find("control not started") != std::string::npos; }));
    EXPECT_NE(read_text(log_).find("control not started: HOTPATCH_TRUSTED_KEY: " + message), std::string::npos)
        << read_text(log_);
    EXPECT_FALSE(exists(control::socket_path(env_["HOTPATCH_CONTROL_DIR"], target.pid())));
  };

  const std::string fifo = dir_.path() + "/fifo.pub";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  expect_refused(fifo, fifo + " is not a regular file");

  const std::string writable = dir_.path() + "/writable.pub";
  std::filesystem::copy_file(pub, writable);
  ::chmod(writable.c_str(), 0666);
  expect_refused(writable, writable + " is writable by group or others (mode 0666)");

  if (::geteuid() == 0) {
    const std::string foreign = dir_.path() + "/foreign.pub";
    std::filesystem::copy_file(pub, foreign);
    ASSERT_EQ(::chown(foreign.c_str(), nobody_uid(), 0), 0);
    expect_refused(foreign, foreign + " is owned by uid " + std::to_string(nobody_uid()) +
                                ", not by this user (uid 0) or root");
  }

  expect_refused("relative.pub", "'relative.pub' is not an absolute path to a minisign .pub file or key directory");
  const std::string garbage = dir_.path() + "/garbage.pub";
  std::ofstream(garbage) << "not a key\n";
  expect_refused(garbage, garbage + " is not a minisign public key");

  const std::string keydir = dir_.path() + "/keys";
  std::filesystem::create_directory(keydir);
  ::chmod(keydir.c_str(), 0777);
  expect_refused(keydir, keydir + " is writable by group or others (mode 0777)");
  ::chmod(keydir.c_str(), 0755);
  expect_refused(keydir, keydir + " holds no .pub key file");
  ::symlink(pub.c_str(), (keydir + "/link.pub").c_str());
  expect_refused(keydir, keydir + "/link.pub cannot be opened: Too many levels of symbolic links (a symlink)");
}

TEST_F(Trust, KeyDirectoryPinsEveryKeyInIt) {
  keygen("a");
  keygen("b");
  const std::string keydir = dir_.path() + "/keys";
  std::filesystem::create_directory(keydir);
  ::chmod(keydir.c_str(), 0755);
  std::filesystem::copy_file(dir_.path() + "/a.pub", keydir + "/a.pub");
  std::filesystem::copy_file(dir_.path() + "/b.pub", keydir + "/b.pub");
  std::ofstream(keydir + "/README") << "not a key, ignored\n";
  Child target = start_target({{"HOTPATCH_TRUSTED_KEY", keydir}});
  const std::string pid = std::to_string(target.pid());
  auto v1 = hp({"apply", "--pid", pid, signed_copy("answer_v1.so", "a")});
  EXPECT_EQ(v1.rc, 0) << v1.err;
  auto v2 = hp({"apply", "--pid", pid, signed_copy("answer_v2.so", "b")});
  EXPECT_EQ(v2.rc, 0) << v2.err;
  EXPECT_TRUE(eventually([&] { return answer() == "44"; }, 3s));
}

// A patch the operator signs with `hotpatch sign` verifies with Debian's minisign too.
TEST_F(Trust, SignWritesAMinisignCompatibleSignature) {
  const std::string pub = keygen("ops");
  const std::string patch = signed_copy("answer_v1.so", "ops");
  ASSERT_TRUE(exists(patch + ".minisig"));
  if (HP_MINISIGN[0] != '\0') {
    auto v = run({HP_MINISIGN, "-Vm", patch, "-p", pub});
    EXPECT_EQ(v.rc, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("Signature and comment signature verified"), std::string::npos) << v.out;
  }
  auto not_a_patch = hp({"sign", "--key", dir_.path() + "/ops.key", pub});
  EXPECT_EQ(not_a_patch.rc, 1);
  EXPECT_NE(not_a_patch.err.find("[malformed_patch]"), std::string::npos) << not_a_patch.err;
  auto no_key = hp({"sign", "--key", dir_.path() + "/missing.key", patch});
  EXPECT_EQ(no_key.rc, 1);
  EXPECT_NE(no_key.err.find("missing.key: cannot open"), std::string::npos) << no_key.err;
}

// Every apply through the CLI used to leave one descriptor open in the target; at 1024 every apply
// failed. The count must not grow over apply/revert cycles.
TEST_F(Trust, ApplyRevertCyclesLeakNoDescriptors) {
  Child target = start_target({{"HOTPATCH_ALLOW_UNSIGNED", "1"}});
  const std::string pid = std::to_string(target.pid());
  const int cycles = std::getenv("HP_CYCLES") != nullptr ? std::atoi(std::getenv("HP_CYCLES")) : 100;
  auto fds = [&] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + pid + "/fd")) ++n;
    return n;
  };
  // The first cycle loads the patch object (its memfd stays open for good): count after it. The
  // CLI exits when it has the reply, a moment before the target closes its side of the connection,
  // so a count is taken only once it has settled.
  ASSERT_EQ(hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v1.so"}).rc, 0);
  ASSERT_EQ(hp({"revert", "--pid", pid, "answer"}).rc, 0);
  auto settled = [&] {
    std::size_t last = fds();
    for (int same = 0; same < 5;) {
      std::this_thread::sleep_for(20ms);
      const std::size_t now = fds();
      same = now == last ? same + 1 : 0;
      last = now;
    }
    return last;
  };
  const std::size_t before = settled();
  for (int i = 0; i < cycles; ++i) {
    auto a = hp({"apply", "--pid", pid, "--allow-unsigned", patches + "/answer_v1.so"});
    ASSERT_EQ(a.rc, 0) << "cycle " << i << ": " << a.err;
    auto r = hp({"revert", "--pid", pid, "answer"});
    ASSERT_EQ(r.rc, 0) << "cycle " << i << ": " << r.err;
  }
  EXPECT_LE(settled(), before);
}

}  // namespace
}  // namespace hotpatch::test
