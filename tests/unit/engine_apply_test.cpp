// Applying, stacking and reverting patches of C, C++, static and shared-library functions.
#include "engine_test_support.hpp"
#include "targets.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

using namespace hptest;
using hotpatch::RedirectMethod;

namespace {

const hotpatch::PatchedFunction* row_for(const std::vector<hotpatch::PatchedFunction>& rows, const std::string& symbol) {
  for (const auto& r : rows)
    if (r.symbol == symbol) return &r;
  return nullptr;
}

TEST_F(EngineTest, TestProgramIsPositionIndependent) {
  const auto modules = hotpatch::loaded_modules();
  ASSERT_FALSE(modules.empty());
  EXPECT_NE(modules.front().base, 0u) << "the main executable must be PIE for these tests to mean anything";
  EXPECT_EQ(modules.front().name, "engine_tests");
  EXPECT_EQ(modules.front().build_id.size(), 40u);
}

TEST_F(EngineTest, CFunctionIsReplacedAndRevertedByteForByte) {
  const auto before = code_bytes(&hp_c_add);
  EXPECT_EQ(hp_c_add(1), 2);
  apply_ok("c_add_v1");
  EXPECT_EQ(hp_c_add(1), 101);
  EXPECT_NE(code_bytes(&hp_c_add), before);
  auto rows = hotpatch::patch_table();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].symbol, "hp_c_add");
  EXPECT_EQ(rows[0].version, 1u);
  EXPECT_EQ(rows[0].patch_id, "c-add");
  EXPECT_EQ(rows[0].method, RedirectMethod::entry_jump);
  EXPECT_EQ(rows[0].address, reinterpret_cast<std::uintptr_t>(&hp_c_add));
  revert_ok("c-add");
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_EQ(code_bytes(&hp_c_add), before);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

// endbr64 followed by 4 bytes: the jump cannot go after the endbr64. Where indirect-branch
// tracking is not enforced (Linux has no user IBT today) the endbr64 is overwritten with the rest.
TEST_F(EngineTest, ShortEndbr64FunctionIsPatchedWhereIbtIsNotEnforced) {
  const auto before = code_bytes(&hp_endbr_entry);
  std::ifstream status("/proc/self/status");
  std::string line;
  bool ibt = false;
  while (std::getline(status, line))
    if (line.rfind("x86_Thread_features:", 0) == 0) ibt = line.find("ibt") != std::string::npos;
  if (ibt) {
    const auto msg = apply_fails(patch_path("endbr_entry"), hotpatch::ErrorCode::not_patchable);
    EXPECT_THAT(msg, testing::HasSubstr("its endbr64 stays: indirect-branch tracking is enforced"));
    return;
  }
  apply_ok("endbr_entry");
  EXPECT_EQ(hp_endbr_entry(1), 101);
  revert_ok("endbr-entry");
  EXPECT_EQ(hp_endbr_entry(1), 2);
  EXPECT_EQ(code_bytes(&hp_endbr_entry), before);
}

TEST_F(EngineTest, VersionsStackAndRevertInOrder) {
  const auto before = code_bytes(&hp_c_add);
  apply_ok("c_add_v1");
  apply_ok("c_add_v2");
  EXPECT_EQ(hp_c_add(1), 201);
  auto rows = hotpatch::patch_table();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].version, 2u);
  EXPECT_EQ(rows[0].stacked, 1u);
  revert_ok("c-add");  // the newest version of the id goes first
  EXPECT_EQ(hp_c_add(1), 101);
  EXPECT_EQ(hotpatch::patch_table().at(0).version, 1u);
  revert_ok("c-add");
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_EQ(code_bytes(&hp_c_add), before);
}

TEST_F(EngineTest, ReapplyAfterRevertReusesTheRedirect) {
  for (int i = 0; i < 50; ++i) {
    apply_ok("c_add_v1");
    ASSERT_EQ(hp_c_add(i), i + 100);
    revert_ok("c-add");
    ASSERT_EQ(hp_c_add(i), i + 1);
  }
}

// A patch rebuilt at the same path must load as the new object, not as the one loaded before.
TEST_F(EngineTest, RebuiltPatchAtTheSamePathLoadsItsNewCode) {
  // Per process: the same binary runs in parallel under several engine configurations.
  const std::string path = ::testing::TempDir() + "/hotpatch-same-path-" + std::to_string(::getpid()) + ".so";
  std::filesystem::copy_file(patch_path("c_add_v1"), path, std::filesystem::copy_options::overwrite_existing);
  auto first = hotpatch::apply_patch_file(path);
  ASSERT_TRUE(first.has_value()) << first.error().what();
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");
  std::filesystem::copy_file(patch_path("c_add_v2"), path, std::filesystem::copy_options::overwrite_existing);
  auto second = hotpatch::apply_patch_file(path);
  ASSERT_TRUE(second.has_value()) << second.error().what();
  EXPECT_EQ(second->manifest.version, 2u);
  EXPECT_EQ(hp_c_add(1), 201);
  revert_ok("c-add");
  std::filesystem::remove(path);
}

// Patch images are reused only for identical bytes: a file rewritten in place, same path and same
// size, one byte different, is read, checked and hashed as the new content it is.
TEST_F(EngineTest, PatchRewrittenInPlaceWithTheSameSizeIsNotTakenForTheOneBefore) {
  const std::string path = ::testing::TempDir() + "/hotpatch-same-size-" + std::to_string(::getpid()) + ".so";
  std::filesystem::copy_file(patch_path("c_add_v1"), path, std::filesystem::copy_options::overwrite_existing);
  auto first = hotpatch::apply_patch_file(path);
  ASSERT_TRUE(first.has_value()) << first.error().what();
  revert_ok("c-add");
  auto again = hotpatch::apply_patch_file(path);
  ASSERT_TRUE(again.has_value()) << again.error().what();
  EXPECT_EQ(again->sha256, first->sha256);
  revert_ok("c-add");
  {
    // One byte of the compiler's .comment note: the object stays valid, its content differs.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto at = bytes.find("GCC: ");
    ASSERT_NE(at, std::string::npos);
    f.seekp(static_cast<std::streamoff>(at));
    f.put('g');
  }
  auto rewritten = hotpatch::apply_patch_file(path);
  ASSERT_TRUE(rewritten.has_value()) << rewritten.error().what();
  EXPECT_NE(rewritten->sha256, first->sha256);
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");
  std::filesystem::remove(path);
}

// A patch calls what a library of the program exports through a plain `extern` declaration.
TEST_F(EngineTest, PatchCallsAnExportedLibraryFunctionThroughAPlainDeclaration) {
  apply_ok("c_add_extern");
  EXPECT_EQ(hp_c_add(1), 1008);  // hp_lib_value(1) = 8, plus 1000
  revert_ok("c-add-extern");
  EXPECT_EQ(hp_c_add(1), 2);
}

TEST_F(EngineTest, CppFreeMemberAndVirtualFunctions) {
  std::unique_ptr<Greeter> g(hp_make_greeter(2));
  EXPECT_EQ(hp_free_function(3), 30);
  EXPECT_EQ(g->greet(3), 5);
  EXPECT_EQ(g->vgreet(3), 6);
  EXPECT_EQ(g->vshort(), 2);
  apply_ok("cpp_members");
  EXPECT_EQ(hp_free_function(3), 35);
  EXPECT_EQ(g->greet(3), 1005);
  EXPECT_EQ(g->vgreet(3), 2006);
  EXPECT_EQ(g->vshort(), 3002);
  auto rows = hotpatch::patch_table();
  ASSERT_EQ(rows.size(), 4u);
  const auto* vshort = row_for(rows, "_ZNK7Greeter6vshortEv");
  ASSERT_NE(vshort, nullptr);
  EXPECT_EQ(vshort->method, RedirectMethod::vtable_slot);
  const auto* greet = row_for(rows, "_ZNK7Greeter5greetEi");
  ASSERT_NE(greet, nullptr) << "the demangled name must resolve to the mangled symbol";
  EXPECT_EQ(greet->method, RedirectMethod::entry_jump);
  revert_ok("cpp-members");
  EXPECT_EQ(hp_free_function(3), 30);
  EXPECT_EQ(g->greet(3), 5);
  EXPECT_EQ(g->vgreet(3), 6);
  EXPECT_EQ(g->vshort(), 2);
}

TEST_F(EngineTest, StaticFunctionAndStaticVariableOfTheTarget) {
  EXPECT_EQ(hp_call_static(2), 6);
  const int start = hp_bump();
  apply_ok("statics");
  EXPECT_EQ(hp_call_static(2), 60);
  EXPECT_EQ(hp_bump(), start + 10) << "the patch must write the target's static counter";
  revert_ok("statics");
  EXPECT_EQ(hp_call_static(2), 6);
  EXPECT_EQ(hp_bump(), start + 11) << "the counter keeps what the patch wrote";
}

TEST_F(EngineTest, FunctionInASharedLibrary) {
  EXPECT_EQ(hp_lib_value(1), 8);
  apply_ok("shared_lib");
  EXPECT_EQ(hp_lib_value(1), 71);
  const auto rows = hotpatch::patch_table();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(rows[0].module.find("hp_fixture_shared"), std::string::npos) << rows[0].module;
  revert_ok("shared-lib");
  EXPECT_EQ(hp_lib_value(1), 8);
}

TEST_F(EngineTest, EntriesOfSeveralInstructionsAndRipRelativeLoads) {
  const auto split_before = code_bytes(&hp_split_entry);
  const auto riprel_before = code_bytes(&hp_riprel_entry);
  EXPECT_EQ(hp_split_entry(1), 2);
  EXPECT_EQ(hp_riprel_entry(1), 6);
  apply_ok("split_entry");
  apply_ok("riprel_entry");
  EXPECT_EQ(hp_split_entry(1), 101);
  EXPECT_EQ(hp_riprel_entry(1), 1001);
  revert_ok("riprel-entry");
  revert_ok("split-entry");
  EXPECT_EQ(hp_split_entry(1), 2);
  EXPECT_EQ(hp_riprel_entry(1), 6);
  EXPECT_EQ(code_bytes(&hp_split_entry), split_before);
  EXPECT_EQ(code_bytes(&hp_riprel_entry), riprel_before);
}

TEST_F(EngineTest, ManifestIsReadWithoutLoading) {
  auto m = hotpatch::read_patch_manifest(patch_path("cpp_members"));
  ASSERT_TRUE(m.has_value()) << m.error().what();
  EXPECT_EQ(m->id, "cpp-members");
  EXPECT_EQ(m->version, 1u);
  EXPECT_EQ(m->about, "cpp_members for engine_tests");
  ASSERT_EQ(m->replaces.size(), 4u);
  bool demangled = false;
  for (const auto& r : m->replaces) demangled |= r.target_symbol == "Greeter::greet(int) const";
  EXPECT_TRUE(demangled);
  EXPECT_EQ(m->target_module, "engine_tests");
  bool found = false;
  for (const auto& mod : hotpatch::loaded_modules()) found |= mod.build_id == m->target_build_id;
  EXPECT_TRUE(found) << "the patch must be bound to this test program's build-id";
}

TEST_F(EngineTest, AppliedPatchesAreListed) {
  apply_ok("c_add_v1");
  apply_ok("statics");
  auto patches = hotpatch::applied_patches();
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[0].manifest.id, "c-add");
  EXPECT_EQ(patches[1].manifest.id, "statics");
  EXPECT_EQ(patches[1].path, patch_path("statics"));
  const auto stats = hotpatch::engine_stats();
  EXPECT_GE(stats.applies, 2u);
  EXPECT_GE(stats.code_writes, 3u);
}

}  // namespace
