// make-patch's analysis on the fixture program, one rule per test: what the plan carries, and
// each refusal with its message.
#include "fixture_project.hpp"

#include "make_patch/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace {

using namespace hotpatch::make_patch;
using namespace hotpatch::make_patch::testing;
using hotpatch::ErrorCode;

// Most tests share one build of the program: the analysis never writes into it (checked below).
class MakePatchPlan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = std::make_unique<Project>(build_project()); }
  static void TearDownTestSuite() { shared_.reset(); }

  static MakePatchOptions options(const Project& p, std::vector<std::string> diffs) {
    MakePatchOptions o;
    o.source = p.src;
    o.compile_commands = p.commands;
    o.target = p.prog;
    for (auto& d : diffs) o.diffs.push_back(fixture_diff(d));
    return o;
  }
  static Plan plan_for(std::vector<std::string> diffs) {
    auto plan = make_plan(options(*shared_, std::move(diffs)));
    EXPECT_TRUE(plan.has_value()) << plan.error().what();
    return plan ? *plan : Plan{};
  }
  static hotpatch::Error refusal(const MakePatchOptions& o) {
    auto plan = make_plan(o);
    EXPECT_FALSE(plan.has_value()) << plan_text(*plan);
    return plan ? hotpatch::Error{} : plan.error();
  }
  static hotpatch::Error refusal_for(std::vector<std::string> diffs) { return refusal(options(*shared_, std::move(diffs))); }

  static inline std::unique_ptr<Project> shared_;
};

std::vector<std::string> symbols(const std::vector<PlannedFunction>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.symbol);
  std::sort(out.begin(), out.end());
  return out;
}

const PlannedFunction* find(const std::vector<PlannedFunction>& fs, const std::string& symbol) {
  for (const auto& f : fs)
    if (f.symbol == symbol) return &f;
  return nullptr;
}

const PlannedImport* find_import(const Plan& p, const std::string& display) {
  for (const auto& i : p.imports)
    if (i.display == display) return &i;
  return nullptr;
}

bool has_line_starting(const std::vector<std::string>& lines, const std::string& prefix) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

using Names = std::vector<std::string>;

TEST_F(MakePatchPlan, ChangeToAnInlinedHelperReplacesEveryCallerItWasInlinedInto) {
  const Plan p = plan_for({"inline_helper"});
  EXPECT_FALSE(p.shared_library);
  EXPECT_EQ(symbols(p.changed), (Names{"uses_a", "uses_b"}));
  EXPECT_TRUE(p.added.empty());
}

TEST_F(MakePatchPlan, HeaderChangeRecompilesTheUnitsThatIncludeItOnly) {
  const Plan p = plan_for({"inline_helper"});
  EXPECT_TRUE(has_line_starting(p.units, "calc.c (includes include/helpers.h"));
  EXPECT_TRUE(has_line_starting(p.units, "server.c (includes include/helpers.h"));
  EXPECT_FALSE(has_line_starting(p.units, "shapes.cpp")) << "shapes.cpp does not include helpers.h";
  // Another program of the project includes the header too: its unit is not the target's.
  EXPECT_TRUE(has_line_starting(p.notes, "tools/tool.c (compile_commands.json entry 8): not linked into the target"));
}

TEST_F(MakePatchPlan, StaticFunctionIsNamedByItsUnitAndItsReferencesBecomeImports) {
  const Plan p = plan_for({"static_function"});
  ASSERT_EQ(symbols(p.changed), (Names{"clamp_value"}));
  EXPECT_TRUE(p.changed[0].local);
  EXPECT_EQ(p.changed[0].display, "calc.c:clamp_value");
  EXPECT_EQ(p.changed[0].same_named_statics, 1u);
  const auto* counter = find_import(p, "calc.c:counter");
  ASSERT_NE(counter, nullptr) << plan_text(p);
  EXPECT_TRUE(counter->local);
  EXPECT_FALSE(counter->function);
  const auto* limit = find_import(p, "limit");
  ASSERT_NE(limit, nullptr) << plan_text(p);
  EXPECT_TRUE(limit->in_program);
}

// A hidden function is global in its object but local in the linked program, listed after every
// unit's statics (Lua's internal functions in redis are): it is found, and it is the program's.
TEST_F(MakePatchPlan, HiddenFunctionsAreTheProgramsGlobals) {
  const Plan p = plan_for({"hidden_function"});
  // tidy_other too, at -O2: the compiler knows which registers a callee of its own unit clobbers.
  const auto* bias = find(p.changed, "other_bias");
  ASSERT_NE(bias, nullptr) << plan_text(p);
  EXPECT_TRUE(bias->in_target) << plan_text(p);
  EXPECT_FALSE(bias->local);
  const auto* mask = find_import(p, "other_mask");
  ASSERT_NE(mask, nullptr) << plan_text(p);
  EXPECT_TRUE(mask->in_program) << plan_text(p);
  EXPECT_FALSE(mask->local);
}

TEST_F(MakePatchPlan, SameNamedStaticsOfTwoUnitsAreToldApartByTheFileSymbol) {
  const Plan p = plan_for({"same_named_static"});
  ASSERT_EQ(symbols(p.changed), (Names{"tidy"}));
  EXPECT_EQ(p.changed[0].display, "util.c:tidy");
  EXPECT_EQ(p.changed[0].same_named_statics, 2u);
  EXPECT_CONTAINS(plan_text(p), "2 statics of this name in the target, this one by its unit's file symbol");
}

TEST_F(MakePatchPlan, StaticsOfUnitsWithTheSameFileNameAreRefusedAsAmbiguous) {
  const auto e = refusal_for({"ambiguous_static"});
  EXPECT_EQ(e.code, ErrorCode::ambiguous_symbol);
  EXPECT_CONTAINS(e.message, "a/dup.c:twin: 2 static functions of that name come from units whose file is named dup.c");
}

TEST_F(MakePatchPlan, NewFunctionIsCarriedAndLibraryCallsAreImportsFromLibraries) {
  const Plan p = plan_for({"new_function"});
  EXPECT_EQ(symbols(p.changed), (Names{"checked"}));
  EXPECT_EQ(symbols(p.added), (Names{"halve"}));
  EXPECT_EQ(find_import(p, "halve"), nullptr) << "a new function goes with the patch";
  const auto* printf_import = find_import(p, "printf");
  ASSERT_NE(printf_import, nullptr) << plan_text(p);
  EXPECT_FALSE(printf_import->in_program);
  EXPECT_TRUE(printf_import->function);
  ASSERT_NE(find_import(p, "calc.c:clamp_value"), nullptr) << plan_text(p);
}

TEST_F(MakePatchPlan, NewVariableIsCarried) {
  const Plan p = plan_for({"new_variable"});
  ASSERT_EQ(p.new_variables.size(), 1u);
  EXPECT_EQ(p.new_variables[0].display, "calc.c:checks_made");
  EXPECT_EQ(find_import(p, "calc.c:checks_made"), nullptr);
  EXPECT_EQ(symbols(p.changed), (Names{"checked"}));
}

TEST_F(MakePatchPlan, ChangedInitialValueOfAVariableIsRefusedWithItsName) {
  const auto e = refusal_for({"changed_data"});
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_CONTAINS(e.message, "changes the initial value/size of variable limit");
  EXPECT_CONTAINS(e.message, "the running process keeps its data");
}

TEST_F(MakePatchPlan, CppMemberAndVirtualFunctions) {
  const Plan p = plan_for({"cpp_members"});
  EXPECT_EQ(symbols(p.changed), (Names{"_ZNK6shapes4Rect4areaEv", "_ZNK6shapes4Rect9perimeterEv"}));
  const auto* area = find(p.changed, "_ZNK6shapes4Rect4areaEv");
  ASSERT_NE(area, nullptr);
  EXPECT_EQ(area->display, "shapes::Rect::area() const");
}

TEST_F(MakePatchPlan, DiffThatChangesNoCodeIsRefused) {
  const auto e = refusal_for({"nothing_changed"});
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_CONTAINS(e.message, "the diff changes no function that the build compiles");
  EXPECT_CONTAINS(e.message, "util.c (touched by the diff)");
}

TEST_F(MakePatchPlan, DiffThatDoesNotApplyIsRefusedWithPatchsOwnWords) {
  const auto e = refusal_for({"does_not_apply"});
  EXPECT_EQ(e.code, ErrorCode::invalid_argument);
  EXPECT_CONTAINS(e.message, "does not apply to the source tree");
  EXPECT_CONTAINS(e.message, "checking file include/helpers.h\nHunk #1 FAILED at 2.\n1 out of 1 hunk FAILED");
}

TEST_F(MakePatchPlan, TouchedFilesOutsideTheBuildAreListedAsSkipped) {
  const Plan p = plan_for({"with_test_and_docs"});
  EXPECT_EQ(symbols(p.changed), (Names{"uses_b"}));
  EXPECT_EQ(p.skipped, (Names{"docs/NOTES.md", "tests/test_calc.c"}));
}

TEST_F(MakePatchPlan, FunctionThatNeverReturnsTakesEffectOnItsNextCallOnly) {
  const Plan p = plan_for({"never_returns"});
  ASSERT_EQ(symbols(p.changed), (Names{"serve_forever"}));
  EXPECT_TRUE(p.changed[0].never_returns);
  EXPECT_CONTAINS(plan_text(p), "serve_forever: ");
  EXPECT_CONTAINS(plan_text(p), "takes effect on its next call only");
  // Functions that return are not flagged.
  const Plan q = plan_for({"static_function"});
  ASSERT_FALSE(q.changed.empty());
  EXPECT_FALSE(q.changed[0].never_returns);
}

TEST_F(MakePatchPlan, SeveralDiffsApplyInOrder) {
  const Plan p = plan_for({"static_function", "same_named_static"});
  EXPECT_EQ(symbols(p.changed), (Names{"clamp_value", "tidy"}));
}

TEST_F(MakePatchPlan, FixThatDoesNotCompileIsRefusedWithTheCompilersOutput) {
  const auto e = refusal_for({"does_not_compile"});
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_EQ(e.subject, "calc.c (patched)");
  EXPECT_CONTAINS(e.message, "compiling failed");
  EXPECT_CONTAINS(e.message, "undeclared_thing");
  EXPECT_CONTAINS(e.message, "error: ");
}

TEST_F(MakePatchPlan, NeitherTheTreeNorTheBuildDirectoryIsWritten) {
  const auto src = snapshot(shared_->src), build = snapshot(shared_->build);
  (void)plan_for({"inline_helper", "new_function"});
  (void)refusal_for({"does_not_compile"});
  EXPECT_EQ(snapshot(shared_->src), src);
  EXPECT_EQ(snapshot(shared_->build), build);
}

TEST_F(MakePatchPlan, TargetBuiltFromOtherSourcesIsRefusedNamingTheFunction) {
  ProjectOptions po;
  po.apply_first = fixture_diff("other_sources");
  const Project other = build_project(po);
  auto o = options(*shared_, {"with_test_and_docs"});
  o.target = other.prog;
  const auto e = refusal(o);
  EXPECT_EQ(e.code, ErrorCode::wrong_build);
  EXPECT_CONTAINS(e.message, "the build does not reproduce the running binary");
  EXPECT_CONTAINS(e.message, "\n  uses_b: ");
  EXPECT_CONTAINS(e.message, " bytes in the target, ");
}

TEST_F(MakePatchPlan, InTreeBuildWithRelativePathsAndArgumentArrays) {
  ProjectOptions po;
  po.out_of_tree = false;
  po.arguments_form = true;
  const Project p = build_project(po);
  const auto before = snapshot(p.src);
  auto plan = make_plan(options(p, {"inline_helper", "static_function"}));
  ASSERT_TRUE(plan.has_value()) << plan.error().what();
  EXPECT_EQ(symbols(plan->changed), (Names{"clamp_value", "uses_a", "uses_b"}));
  EXPECT_EQ(snapshot(p.src), before);
}

TEST_F(MakePatchPlan, SharedLibraryTarget) {
  ProjectOptions po;
  po.flags = "-O2 -fPIC";
  po.shared_library = true;
  const Project p = build_project(po);
  auto plan = make_plan(options(p, {"static_function", "cpp_members"}));
  ASSERT_TRUE(plan.has_value()) << plan.error().what();
  EXPECT_TRUE(plan->shared_library);
  EXPECT_EQ(symbols(plan->changed), (Names{"_ZNK6shapes4Rect4areaEv", "_ZNK6shapes4Rect9perimeterEv", "clamp_value"}));
}

TEST_F(MakePatchPlan, ScratchDirectoryIsPrivateAndRemoved) {
  const std::string tmp = shared_->root + "/tmp";
  ASSERT_TRUE(shell("mkdir " + tmp));
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TMPDIR", tmp.c_str(), 1);
  auto o = options(*shared_, {"static_function"});
  o.keep_scratch = true;
  auto kept = make_plan(o);
  (void)plan_for({"static_function"});
  (void)refusal_for({"does_not_compile"});
  if (old != nullptr) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  ASSERT_TRUE(kept.has_value()) << kept.error().what();
  // Only the one asked to be kept is left, readable by its owner only.
  std::string listing;
  ASSERT_TRUE(shell("cd " + tmp + " && ls -A", &listing));
  EXPECT_EQ(tmp + "/" + listing, kept->scratch + "\n");
  std::string mode;
  ASSERT_TRUE(shell("stat -c %a " + kept->scratch, &mode));
  EXPECT_EQ(mode, "700\n");
}

TEST_F(MakePatchPlan, StrippedTargetIsReadThroughItsSeparateDebugFile) {
  const std::string dir = shared_->root + "/stripped";
  std::string out;
  ASSERT_TRUE(shell("mkdir -p " + dir + " && objcopy --only-keep-debug " + shared_->prog + " " + dir + "/prog.debug && chmod 644 " +
                    dir + "/prog.debug && objcopy --strip-all --add-gnu-debuglink=" + dir + "/prog.debug " + shared_->prog + " " +
                    dir + "/prog", &out)) << out;
  auto o = options(*shared_, {"same_named_static"});
  o.target = dir + "/prog";
  auto plan = make_plan(o);
  ASSERT_TRUE(plan.has_value()) << plan.error().what();
  EXPECT_EQ(plan->symbols_from, dir + "/prog.debug");
  ASSERT_EQ(symbols(plan->changed), (Names{"tidy"}));
  EXPECT_EQ(plan->changed[0].same_named_statics, 2u);

  // Without its debug file there is nothing to check the build against.
  ASSERT_TRUE(shell("rm " + dir + "/prog.debug", &out)) << out;
  const auto e = refusal(o);
  EXPECT_EQ(e.code, ErrorCode::symbol_not_found);
  EXPECT_CONTAINS(e.message, "is stripped (no .symtab) and no separate debug file with its build-id");
}

TEST_F(MakePatchPlan, LinkTimeOptimisedUnitsAreRefused) {
  ProjectOptions po;
  po.flags = "-O2 -flto";
  const Project p = build_project(po);
  const auto e = refusal(options(p, {"static_function"}));
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_EQ(e.subject, "calc.c");
  EXPECT_CONTAINS(e.message, "is compiled with -flto");
}

TEST_F(MakePatchPlan, MissingInputsAreNamed) {
  auto o = options(*shared_, {"static_function"});
  o.source = shared_->root + "/nowhere";
  EXPECT_CONTAINS(refusal(o).what(), "/nowhere: the source tree (--source) does not exist");
  o = options(*shared_, {"static_function"});
  o.compile_commands = shared_->src;
  EXPECT_CONTAINS(refusal(o).what(), "the compile commands (--compile-commands) is not a file");
  o = options(*shared_, {"static_function"});
  o.target = shared_->commands;
  EXPECT_CONTAINS(refusal(o).what(), "compile_commands.json: is not a usable target");
  o = options(*shared_, {"no_such_fix"});
  EXPECT_CONTAINS(refusal(o).what(), "no_such_fix.diff: the diff (--diff) does not exist");
  o = options(*shared_, {});
  EXPECT_CONTAINS(refusal(o).what(), "--diff: no diff given");
  o = options(*shared_, {});
  o.diffs.push_back(shared_->src + "/docs/NOTES.md");
  EXPECT_CONTAINS(refusal(o).what(), "names no file: not a unified diff");
}

TEST_F(MakePatchPlan, MalformedCompileCommandsAreRefused) {
  const std::string path = shared_->root + "/bad.json";
  auto with = [&](const std::string& text) {
    shell("printf '%s' '" + text + "' > " + path);
    auto o = options(*shared_, {"static_function"});
    o.compile_commands = path;
    return refusal(o).what();
  };
  EXPECT_CONTAINS(with("{not json"), "is not a compile_commands.json (a JSON array of entries)");
  EXPECT_CONTAINS(with("[]"), "records no compile commands");
  EXPECT_CONTAINS(with("[{\"file\": \"a.c\", \"command\": \"gcc -c a.c\"}]"), "entry 0: needs an absolute \"directory\" and a \"file\"");
  EXPECT_CONTAINS(with("[{\"directory\": \"/tmp\", \"file\": \"a.c\"}]"), "entry 0: has neither \"arguments\" nor \"command\"");
  EXPECT_CONTAINS(with("[{\"directory\": \"/tmp\", \"file\": \"a.c\", \"command\": \"gcc \\\"a.c\"}]"), "unterminated \" quote");
  EXPECT_CONTAINS(with("[{\"directory\": \"/tmp\", \"file\": \"a.c\", \"arguments\": [\"gcc\", 1]}]"),
                  "entry 0: \"arguments\" holds something other than strings");
  // A recorded unit that no longer builds: nothing can be said about what the diff does to it.
  EXPECT_CONTAINS(with("[{\"directory\": \"" + shared_->src + "\", \"file\": \"gone.c\", \"command\": \"gcc -c gone.c\"}]"),
                  "gone.c (original): preprocessing failed (exit 1)");
}

TEST_F(MakePatchPlan, ScratchDirectoryInsideTheSourceTreeIsRefused) {
  const std::string tmp = shared_->src + "/tmp";
  ASSERT_TRUE(shell("mkdir -p " + tmp));
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TMPDIR", tmp.c_str(), 1);
  const auto e = refusal_for({"static_function"});
  if (old != nullptr) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  ASSERT_TRUE(shell("rm -rf " + tmp));
  EXPECT_EQ(e.code, ErrorCode::invalid_argument);
  EXPECT_CONTAINS(e.message, "the scratch directory would be inside the source tree: set TMPDIR to a directory outside it");
}

}  // namespace
