// hotpatch make-patch as an operator runs it: the plan on stdout, refusals on stderr, exit codes
// 0 ok, 1 refused, 2 usage.
#include "fixture_project.hpp"

#include "make_patch/process.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

namespace {

using namespace hotpatch::make_patch;
using namespace hotpatch::make_patch::testing;

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

class MakePatchCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { project_ = std::make_unique<Project>(build_project()); }
  static void TearDownTestSuite() { project_.reset(); }

  static ProcessResult run(const std::string& diff, std::vector<std::string> more) {
    std::vector<std::string> argv{HP_HOTPATCH_TOOL, "make-patch", "--source", project_->src, "--compile-commands",
                                  project_->commands, "--target", project_->prog, "--diff", fixture_diff(diff)};
    argv.insert(argv.end(), more.begin(), more.end());
    auto r = run_process(argv);
    EXPECT_TRUE(r.has_value()) << r.error().what();
    return r ? *r : ProcessResult{};
  }
  static inline std::unique_ptr<Project> project_;
};

TEST_F(MakePatchCli, PlanPrintsWhatThePatchWouldCarry) {
  const auto r = run("new_function", {"--id", "fix-checked", "--patch-version", "3", "--about", "halves", "--plan"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "patch fix-checked version 3 (halves)\n");
  EXPECT_CONTAINS(r.output, "changed functions (replaced):\n  checked: ");
  EXPECT_CONTAINS(r.output, "new functions (carried):\n  halve\n");
  EXPECT_CONTAINS(r.output, "  printf (function, from a shared library)\n");
  EXPECT_CONTAINS(r.output, "  calc.c:clamp_value (function, static, found by its unit's file symbol)\n");
}

TEST_F(MakePatchCli, WritesAPatchThatSaysWhatItIsAndReplaces) {
  const std::string out = project_->root + "/fix.so";
  const auto r = run("new_function_called", {"--id", "calc-fix", "--patch-version", "3", "--about", "offsets", "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "wrote " + out + ": patch calc-fix version 3\n");
  auto inspected = run_process({HP_HOTPATCH_TOOL, "inspect", out});
  ASSERT_TRUE(inspected.has_value());
  EXPECT_EQ(inspected->exit_code, 0) << inspected->output;
  EXPECT_CONTAINS(inspected->output, "calc-fix version 3\n  about: offsets\n");
  EXPECT_CONTAINS(inspected->output, "replaces: uses_a -> uses_a\n");
  EXPECT_EQ(inspected->output.find("replaces: offset_of"), std::string::npos) << "a new function replaces nothing";
}

// A fix across two units: one object per unit, each naming its unit (the static 'tidy' of util.c
// has a namesake in other.c).
TEST_F(MakePatchCli, AFixAcrossTwoUnitsCarriesAnObjectForEach) {
  const std::string out = project_->root + "/two.so";
  const auto r = run("two_units", {"--id", "two", "--patch-version", "1", "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "new functions (carried):\n  tidy_wide\n");
  EXPECT_EQ(r.output.find("tidy_wide (function"), std::string::npos) << "linked inside the patch, not imported:\n" << r.output;
  auto inspected = run_process({HP_HOTPATCH_TOOL, "inspect", out});
  ASSERT_TRUE(inspected.has_value());
  EXPECT_EQ(inspected->exit_code, 0) << inspected->output;
  EXPECT_CONTAINS(inspected->output, "replaces: uses_a -> uses_a\n");
  EXPECT_CONTAINS(inspected->output, "replaces: tidy -> tidy\n");
  EXPECT_CONTAINS(inspected->output, "  object: calc.c (");
  EXPECT_CONTAINS(inspected->output, "  object: util.c (");
}

TEST_F(MakePatchCli, UsageErrorsExitWithTwo) {
  auto r = run("new_function", {"--id", "no spaces", "--patch-version", "1", "--plan"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "--id: 'no spaces' is invalid");
  r = run("new_function", {"--id", "fix", "--patch-version", "0", "--plan"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "--patch-version: must be from 1 to 4294967295");
  r = run("new_function", {"--id", "fix", "--patch-version", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "one of -o OUT.so or --plan is required");
}

TEST_F(MakePatchCli, RefusalsKeepOneItemALine) {
  const auto r = run("does_not_apply", {"--id", "fix", "--patch-version", "1", "--plan"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "does not apply to the source tree (patch -p1 --forward exited with 1):\n  checking file include/helpers.h\n"
                            "  Hunk #1 FAILED at 2.\n");
  const auto data = run("changed_data", {"--id", "fix", "--patch-version", "1", "--plan"});
  EXPECT_EQ(data.exit_code, 1) << data.output;
  EXPECT_CONTAINS(data.output, "variable limit");
}

}  // namespace
