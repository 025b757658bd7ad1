// Patches made by `hotpatch make-patch -o` applied to the running fixture program: after the apply
// it answers exactly as the program built from the fixed sources does, its statics keep their
// state, and the revert brings the old answers back.
#include "fixture_project.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hotpatch::make_patch::testing {
namespace {

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

// Sockets go to a directory of this test's own, not root's /run/hotpatch that other tests list.
const std::string& control_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/hp-make-patch-control-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  return dir;
}

// `prog loop` with the runtime preloaded, answering one result line per number.
class Running {
 public:
  explicit Running(const std::string& prog) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setenv("LD_PRELOAD", HP_LIBHOTPATCH, 1);
      ::setenv("HOTPATCH_CONTROL", "1", 1);
      ::setenv("HOTPATCH_ALLOW_UNSIGNED", "1", 1);
      ::setenv("HOTPATCH_LOG", "off", 1);
      ::setenv("HOTPATCH_CONTROL_DIR", control_dir().c_str(), 1);
      ::execl(prog.c_str(), prog.c_str(), "loop", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Running() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::close(to_);
    ::close(from_);
  }
  pid_t pid() const { return pid_; }

  // The result line for `n` ("" after 5 s).
  std::string ask(int n) {
    const std::string q = std::to_string(n) + "\n";
    if (::write(to_, q.data(), q.size()) != static_cast<ssize_t>(q.size())) return "";
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.starts_with("result ")) return line;
      }
      if (std::chrono::steady_clock::now() > end) return "";
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t got = ::read(from_, buf, sizeof buf);
      if (got <= 0) return "";
      buffer_.append(buf, static_cast<std::size_t>(got));
    }
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffer_;
};

std::string answers_of(const std::string& prog, const std::vector<int>& inputs) {
  std::string feed;
  for (int n : inputs) feed += std::to_string(n) + "\\n";
  std::string out;
  shell("printf '" + feed + "' | " + prog + " loop | grep '^result '", &out);
  return out;
}

class MakePatchApply : public ::testing::Test {
 protected:
  // Makes the patch for `diff`, applies it to the running original and compares with the fixed
  // build; then reverts.
  void patch_and_compare(const std::string& diff, const std::string& id) {
    Project original = build_project();
    Project fixed = build_project({.apply_first = fixture_diff(diff)});
    const std::vector<int> inputs{1, 2, -7, 300, 4097};
    Running running(original.prog);
    std::string before;
    for (int n : inputs) before += running.ask(n) + "\n";
    ASSERT_EQ(before, answers_of(original.prog, inputs));
    const std::string expected = answers_of(fixed.prog, inputs);
    ASSERT_NE(expected, before) << "the fixture diff " << diff << " changes no answer";

    const std::string patch = original.root + "/" + id + ".so";
    std::string out;
    ASSERT_TRUE(shell(std::string(HP_HOTPATCH_TOOL) + " make-patch --source " + original.src + " --compile-commands " +
                          original.commands + " --target " + original.prog + " --diff " + fixture_diff(diff) + " --id " +
                          id + " --patch-version 1 -o " + patch,
                      &out))
        << out;
    ASSERT_TRUE(shell(std::string(HP_HOTPATCH_TOOL) + " apply --pid " + std::to_string(running.pid()) +
                          " --allow-unsigned " + patch,
                      &out))
        << out;
    std::string after;
    for (int n : inputs) after += running.ask(n) + "\n";
    EXPECT_EQ(after, expected);
    ASSERT_TRUE(shell(std::string(HP_HOTPATCH_TOOL) + " revert --pid " + std::to_string(running.pid()) + " " + id, &out))
        << out;
    std::string reverted;
    for (int n : inputs) reverted += running.ask(n) + "\n";
    EXPECT_EQ(reverted, before);
  }
};

TEST_F(MakePatchApply, StaticFunctionReachingTheProgramsStatics) { patch_and_compare("static_function", "static-fn"); }

TEST_F(MakePatchApply, InlinedHelperChangeReplacesItsCallers) { patch_and_compare("inline_helper", "inline-helper"); }

TEST_F(MakePatchApply, StaticOfOneOfTwoUnitsWithTheSameName) { patch_and_compare("same_named_static", "same-named"); }

TEST_F(MakePatchApply, NewFunctionComesAlong) { patch_and_compare("new_function_called", "new-fn"); }

// The variable starts at its initial value when the patch is applied, as in a fresh fixed build.
TEST_F(MakePatchApply, NewVariableLivesInThePatch) { patch_and_compare("new_variable_used", "new-var"); }

TEST_F(MakePatchApply, CppMemberAndVirtualFunctions) { patch_and_compare("cpp_members", "cpp-members"); }

// The fixed scaled() lets an exception from its callee pass to the caller that catches it, running
// its cleanup on the way: the loaded code's unwind records (its FDE, LSDA and personality) are
// registered. Without them the running program would end in std::terminate at input -7.
TEST_F(MakePatchApply, ExceptionPassesThroughAFixedFunction) { patch_and_compare("exception_through", "exception-through"); }

// A hidden function replaced, its fixed code calling another hidden one of the program.
TEST_F(MakePatchApply, HiddenFunction) { patch_and_compare("hidden_function", "hidden-fn"); }

// Two fixed units linked together: calc.c's fixed code calls the function util.c's fix adds, and
// util.c's static 'tidy' (other.c has one too) is replaced in its own unit.
TEST_F(MakePatchApply, FixAcrossTwoUnits) { patch_and_compare("two_units", "two-units"); }

}  // namespace
}  // namespace hotpatch::make_patch::testing
