// make-patch's comparison of data layouts from DWARF: a fix that changes how data the running process
// keeps is laid out (a structure's members, a variable's type) is refused naming what changes; a
// type the fix brings along is not. The fixture program here has a structure of its own (accounts
// in util.c, from layout_base.diff) before each fix is planned.
#include "fixture_project.hpp"

#include "make_patch/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

namespace {

using namespace hotpatch::make_patch;
using namespace hotpatch::make_patch::testing;
using hotpatch::ErrorCode;

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

MakePatchOptions options(const Project& p, const std::string& diff) {
  MakePatchOptions o;
  o.source = p.src;
  o.compile_commands = p.commands;
  o.target = p.prog;
  o.diffs.push_back(fixture_diff(diff));
  return o;
}

bool mentions(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

class MakePatchLayout : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ProjectOptions o;
    o.apply_first = fixture_diff("layout_base");
    shared_ = std::make_unique<Project>(build_project(o));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  static hotpatch::Error refusal_for(const std::string& diff) {
    auto plan = make_plan(options(*shared_, diff));
    EXPECT_FALSE(plan.has_value()) << plan_text(*plan);
    return plan ? hotpatch::Error{} : plan.error();
  }

  static inline std::unique_ptr<Project> shared_;
};

TEST_F(MakePatchLayout, MemberInsertedIntoAStructureUnchangedCodeUsesIsRefusedNamingTypeAndMember) {
  // balance_of() and open_account() stay as they are, and accounts already made keep the old layout.
  const auto e = refusal_for("layout_struct_member");
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_CONTAINS(e.message, "changes the layout of struct account: member 'balance' moves from offset 8 to 16 (size 16 -> 24)");
  EXPECT_CONTAINS(e.message, "the running process keeps its data");
}

TEST_F(MakePatchLayout, MemberInsertedIntoACppClassIsRefusedNamingTheQualifiedClass) {
  const auto e = refusal_for("layout_class_member");
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_CONTAINS(e.message, "changes the layout of struct shapes::Rect: member 'h_' moves from offset 12 to 16 (size 16 -> 24)");
}

TEST_F(MakePatchLayout, VariableWhoseTypeChangesIsRefusedNamingBothTypes) {
  // Same size, same zero bytes: only the declared type tells this change apart.
  const auto e = refusal_for("layout_variable_type");
  EXPECT_EQ(e.code, ErrorCode::not_patchable);
  EXPECT_CONTAINS(e.message,
                  "changes the type of variable account_total: long int (8 bytes) -> long unsigned int (8 bytes); "
                  "the running process keeps its data");
}

TEST_F(MakePatchLayout, NewStructureUsedOnlyByNewCodeIsAccepted) {
  // The diff also moves struct account down the file: its layout, not its line, is compared.
  auto plan = make_plan(options(*shared_, "layout_new_struct"));
  ASSERT_TRUE(plan.has_value()) << plan.error().what();
  ASSERT_EQ(plan->changed.size(), 1u);
  EXPECT_EQ(plan->changed.front().symbol, "deposit");
  ASSERT_EQ(plan->added.size(), 1u);
  EXPECT_EQ(plan->added.front().symbol, "record_deposit");
  EXPECT_FALSE(mentions(plan->notes, "layouts")) << plan_text(*plan);
}

TEST(MakePatchLayoutNotCompared, UnitWhoseTypesAreInTypeUnitsIsNotedAndNotRefused) {
  // gcc puts each type of a unit built with -fdebug-types-section in a section group of its own,
  // which libdw does not read from an object: the plan says that this unit's layouts went unchecked.
  ProjectOptions o;
  o.apply_first = fixture_diff("layout_base");
  o.flags = "-O2 -fdebug-types-section";
  const Project p = build_project(o);
  auto plan = make_plan(options(p, "layout_struct_member"));
  ASSERT_TRUE(plan.has_value()) << plan.error().what();
  EXPECT_TRUE(mentions(plan->notes, "util.c: the layouts of its types and variables are not compared, its types are in DWARF "
                                    "type units (-fdebug-types-section)"))
      << plan_text(*plan);
}

}  // namespace
