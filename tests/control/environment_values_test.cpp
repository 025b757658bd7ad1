// HOTPATCH_SIGNAL, HOTPATCH_CODE_WRITE and HOTPATCH_LOG with values the runtime does not know:
// an apply fails naming the variable (after the patch the engine was applying), instead of quietly
// doing something the operator did not ask.
#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"
#include "security_support.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace hotpatch::test {
namespace {

class EnvironmentValues : public ::testing::Test {
 protected:
  // Starts the patchable target with `name=value` and applies answer_v1.so through its socket.
  std::string apply_with(const std::string& name, const std::string& value) {
    Env env = preloaded_env(dir_.path() + "/sockets");
    env[name] = value;
    // The target writes its state from main(), after the runtime's constructor is listening: a
    // socket file alone may exist between bind() and listen().
    ::unlink((dir_.path() + "/state").c_str());
    Child target({HP_TARGET, dir_.path() + "/state"}, env, std::nullopt, out_);
    const std::string socket = control::socket_path(dir_.path() + "/sockets", target.pid());
    if (!eventually([&] { return exists(socket) && exists(dir_.path() + "/state"); })) return "no socket";
    // The process takes only a sealed memory file.
    const std::string bytes = read_text(HP_CONTROL_PATCHES "/answer_v1.so");
    control::Fd patch(::memfd_create("answer_v1.so", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (::write(patch.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) ||
        ::fcntl(patch.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
      return "cannot make a sealed copy";
    }
    control::Request apply;
    apply.op = control::Op::apply;
    apply.source = "answer_v1.so";
    apply.allow_unsigned = true;
    auto r = control::call(target.pid(), socket, apply, control::CallOptions{std::chrono::seconds(10), patch.get()});
    if (!r) return "call failed: " + r.error().what();
    if (r->ok) return "ok";
    return std::string(error_code_name(r->error.code)) + ": " + r->error.what();
  }

  TempDir dir_;
  std::string out_ = dir_.path() + "/out";
};

TEST_F(EnvironmentValues, SignalThatIsNotARealTimeSignalFailsTheApply) {
  const std::string range = "between SIGRTMIN (" + std::to_string(SIGRTMIN) + ") and SIGRTMAX (" +
                            std::to_string(SIGRTMAX) + ")";
  EXPECT_EQ(apply_with("HOTPATCH_SIGNAL", "abc"),
            "invalid_argument: patch 'answer' v1: HOTPATCH_SIGNAL: 'abc' is not a real-time signal number " + range);
  EXPECT_EQ(apply_with("HOTPATCH_SIGNAL", "10"),
            "invalid_argument: patch 'answer' v1: HOTPATCH_SIGNAL: '10' is not a real-time signal number " + range);
  EXPECT_EQ(apply_with("HOTPATCH_SIGNAL", std::to_string(SIGRTMAX - 1) + "x"),
            "invalid_argument: patch 'answer' v1: HOTPATCH_SIGNAL: '" + std::to_string(SIGRTMAX - 1) +
                "x' is not a real-time signal number " + range);
  EXPECT_EQ(apply_with("HOTPATCH_SIGNAL", std::to_string(SIGRTMAX - 1)), "ok");
}

TEST_F(EnvironmentValues, UnknownCodeWriteMethodFailsTheApply) {
  EXPECT_EQ(apply_with("HOTPATCH_CODE_WRITE", "x"),
            "invalid_argument: patch 'answer' v1: HOTPATCH_CODE_WRITE: 'x' is not proc_mem or mprotect");
  EXPECT_EQ(apply_with("HOTPATCH_CODE_WRITE", "mprotect"), "ok");
}

// Like every other HOTPATCH_* setting, a bad value keeps control from starting, with the reason.
TEST_F(EnvironmentValues, UnknownLogSettingIsAnErrorNamingTheVariable) {
  EXPECT_EQ(apply_with("HOTPATCH_LOG", "loud"), "no socket");
  const std::string text = read_text(out_);
  const std::string warning = "hotpatch[warning]: HOTPATCH_LOG: 'loud' is not off, 0, info or debug; logging at the info level\n";
  auto first = text.find(warning);
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(warning, first + 1), std::string::npos) << text;
  EXPECT_NE(text.find("hotpatch[warning]: control not started: HOTPATCH_LOG: 'loud' is not off, 0, info or debug"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("hotpatch[debug]"), std::string::npos) << text;
}

}  // namespace
}  // namespace hotpatch::test
