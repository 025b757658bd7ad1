// What a source change did to a unit, function by function: one tiny pair of units per rule.
#include "make_patch/object_diff.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

using hotpatch::make_patch::Change;
using hotpatch::make_patch::ObjectDiff;
using hotpatch::make_patch::SymbolChange;

ObjectDiff diff(const char* original, const char* patched) {
  auto d = hotpatch::make_patch::diff_objects(original, patched);
  EXPECT_TRUE(d.has_value()) << d.error().what();
  return d ? *d : ObjectDiff{};
}

std::vector<std::string> names(const std::vector<SymbolChange>& changes, Change kind) {
  std::vector<std::string> out;
  for (const auto& c : changes)
    if (c.change == kind) out.push_back(c.name);
  std::sort(out.begin(), out.end());
  return out;
}

using Names = std::vector<std::string>;

TEST(ObjectDiff, ChangeToAnInlinedHelperChangesEveryCallerItWasInlinedInto) {
  auto d = diff(HP_DIFF_inline_helper_original, HP_DIFF_inline_helper_patched);
  EXPECT_EQ(names(d.functions, Change::changed), (Names{"uses_a", "uses_b"}));
  EXPECT_TRUE(names(d.functions, Change::added).empty());
  EXPECT_TRUE(d.variables.empty());
}

TEST(ObjectDiff, StringLiteralsAreComparedByTheirTextNotTheirPlace) {
  auto d = diff(HP_DIFF_strings_original, HP_DIFF_strings_patched);
  EXPECT_EQ(names(d.functions, Change::changed), (Names{"greet"}));
  ASSERT_EQ(d.functions.size(), 1u);
  EXPECT_NE(d.functions[0].why.find("\"hello\""), std::string::npos) << d.functions[0].why;
  EXPECT_NE(d.functions[0].why.find("\"hello, world\""), std::string::npos) << d.functions[0].why;
}

TEST(ObjectDiff, NewFunctionComesAlongWithItsCaller) {
  auto d = diff(HP_DIFF_new_function_original, HP_DIFF_new_function_patched);
  EXPECT_EQ(names(d.functions, Change::added), (Names{"added_check"}));
  EXPECT_EQ(names(d.functions, Change::changed), (Names{"api"}));
}

TEST(ObjectDiff, RenumberedFunctionLocalStaticsDoNotCountAsChanges) {
  auto d = diff(HP_DIFF_static_locals_original, HP_DIFF_static_locals_patched);
  EXPECT_EQ(names(d.functions, Change::added), (Names{"zeroth"}));
  EXPECT_TRUE(names(d.functions, Change::changed).empty()) << d.functions.front().why;
}

TEST(ObjectDiff, ChangedInitialValueOfAVariableIsReported) {
  auto d = diff(HP_DIFF_data_change_original, HP_DIFF_data_change_patched);
  EXPECT_TRUE(d.functions.empty());
  ASSERT_EQ(d.variables.size(), 1u);
  EXPECT_EQ(d.variables[0].name, "limit");
  EXPECT_EQ(d.variables[0].change, Change::changed);
  EXPECT_EQ(d.variables[0].why, "bytes differ at +0");
}

TEST(ObjectDiff, NothingChangedIsEmpty) {
  auto d = diff(HP_DIFF_same_original, HP_DIFF_same_patched);
  EXPECT_TRUE(d.empty());
}

TEST(ObjectDiff, WhatIsNotARelocatableObjectIsRefusedByName) {
  auto d = hotpatch::make_patch::diff_objects(HP_DIFF_same_original, "/proc/self/exe");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().what(), "/proc/self/exe: not an x86-64 relocatable object (.o)");
  const std::string text = ::testing::TempDir() + "/not-elf-" + std::to_string(::getpid()) + ".o";
  { std::ofstream(text) << "int x;\n"; }
  auto not_elf = hotpatch::make_patch::diff_objects(text, HP_DIFF_same_patched);
  std::remove(text.c_str());
  ASSERT_FALSE(not_elf.has_value());
  EXPECT_EQ(not_elf.error().what(), text + ": not a 64-bit ELF object");
  auto missing = hotpatch::make_patch::diff_objects("/nonexistent.o", HP_DIFF_same_patched);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().what(), "/nonexistent.o: cannot open: No such file or directory");
}

}  // namespace
