// Hazard: a patched library is unloaded (dlclose), and the same or another library may be mapped at
// its address afterwards. No write may land in another library: its functions are listed as
// unloaded and a revert cancels them without writing. The same library loaded again gets its patch
// back before dlopen returns. And dlopen, passing through the runtime, still searches for names as
// the calling library would.
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <dlfcn.h>
#include <string>

namespace {

using Fn = int (*)(int);

const hotpatch::PatchedFunction* row_for(const std::vector<hotpatch::PatchedFunction>& rows, const std::string& symbol) {
  for (const auto& r : rows)
    if (r.symbol == symbol) return &r;
  return nullptr;
}

struct Library {
  const char* path;
  void* handle = nullptr;
  Fn fn = nullptr;
  explicit Library(const char* p) : path(p) {}
  bool open() {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    fn = handle != nullptr ? reinterpret_cast<Fn>(dlsym(handle, "hp_plugin_value")) : nullptr;
    return fn != nullptr;
  }
  bool close_and_unload() {
    if (dlclose(handle) != 0) return false;
    handle = nullptr;
    return dlopen(path, RTLD_NOW | RTLD_NOLOAD) == nullptr;
  }
};

const std::string patch_dir = HP_PLUGIN_PATCH_DIR;

class UnloadedModule : public ::testing::Test {
 protected:
  void SetUp() override { hotpatch::set_log_sink({}); }
  void TearDown() override {
    for (const auto& p : hotpatch::applied_patches()) (void)hotpatch::revert_patch(p.manifest.id);
    EXPECT_TRUE(hotpatch::applied_patches().empty());
  }
};

TEST_F(UnloadedModule, RevertAfterUnloadWritesNothingAndCancels) {
  Library p(HP_PLUGIN);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_EQ(p.fn(1), 2);
  auto applied = hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so");
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  EXPECT_EQ(p.fn(1), 101);
  ASSERT_TRUE(p.close_and_unload()) << "the plugin stayed loaded: the test proves nothing";

  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr) << "the function vanished from the table";
  EXPECT_TRUE(row->unloaded);
  const auto patches = hotpatch::applied_patches();
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_TRUE(patches[0].targets_unloaded) << "a patch whose targets are all gone is reported";

  const auto before = hotpatch::engine_stats();
  auto reverted = hotpatch::revert_patch("plugin");
  ASSERT_TRUE(reverted.has_value()) << reverted.error().what();
  EXPECT_EQ(hotpatch::engine_stats().code_writes, before.code_writes) << "the revert wrote code";
  EXPECT_TRUE(hotpatch::patch_table().empty());

  // Loaded again after the revert: its own code runs, and it can be patched like any library.
  ASSERT_TRUE(p.open()) << dlerror();
  EXPECT_EQ(p.fn(1), 2);
  applied = hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so");
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  EXPECT_EQ(p.fn(1), 101);
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(p.fn(1), 2);
  ASSERT_TRUE(p.close_and_unload());
}

TEST_F(UnloadedModule, PatchFollowsItsLibraryLoadedAgainBeforeDlopenReturns) {
  Library p(HP_PLUGIN);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so").has_value());
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v2.so").has_value());
  ASSERT_EQ(p.fn(1), 201);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(p.close_and_unload());
    ASSERT_TRUE(p.open()) << dlerror();
    EXPECT_EQ(p.fn(1), 201) << "round " << round << ": the copy loaded again runs unpatched";
    const auto rows = hotpatch::patch_table();
    const auto* row = row_for(rows, "hp_plugin_value");
    ASSERT_NE(row, nullptr);
    EXPECT_FALSE(row->unloaded);
    EXPECT_EQ(row->address, reinterpret_cast<std::uintptr_t>(p.fn));
    EXPECT_EQ(row->version, 2u);
    EXPECT_EQ(row->stacked, 1u);
    EXPECT_TRUE(row->reload_error.empty()) << row->reload_error;
  }
  // The version stack came along: reverting v2 goes back to v1, then to the library's own code.
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(p.fn(1), 101);
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(p.fn(1), 2);
  // Reverted for good: the next copy runs its own code.
  ASSERT_TRUE(p.close_and_unload());
  ASSERT_TRUE(p.open());
  EXPECT_EQ(p.fn(1), 2);
  ASSERT_TRUE(p.close_and_unload());
}

// The copy loaded again has an entry pad: the follow goes through it (the short jump at the entry),
// and the revert restores the copy's entry exactly.
TEST_F(UnloadedModule, PatchFollowsAPaddedLibraryThroughItsPad) {
  Library p(HP_PLUGIN_PADDED);
  ASSERT_TRUE(p.open()) << dlerror();
  const auto pad_writes = hotpatch::engine_stats().pad_writes;
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_padded_v1.so").has_value());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(p.close_and_unload());
    ASSERT_TRUE(p.open()) << dlerror();
    EXPECT_EQ(p.fn(1), 101) << "round " << round << ": the copy loaded again runs unpatched";
    EXPECT_EQ(reinterpret_cast<const unsigned char*>(p.fn)[0], 0xEB) << "not redirected through the pad";
  }
  EXPECT_GE(hotpatch::engine_stats().pad_writes - pad_writes, 4u);
  ASSERT_TRUE(hotpatch::revert_patch("plugin-padded").has_value());
  EXPECT_EQ(p.fn(1), 2);
  const auto* entry = reinterpret_cast<const unsigned char*>(p.fn);
  EXPECT_EQ(entry[0], 0x90);
  EXPECT_EQ(entry[1], 0x90);
  ASSERT_TRUE(p.close_and_unload());
}

TEST_F(UnloadedModule, PatchFollowsToAnotherAddressAndItsImportsToo) {
  Library p(HP_PLUGIN);
  Library other(HP_PLUGIN_OTHER);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v3.so").has_value());
  ASSERT_EQ(p.fn(1), 302);
  const auto first_address = reinterpret_cast<std::uintptr_t>(p.fn);
  ASSERT_TRUE(p.close_and_unload());
  ASSERT_TRUE(other.open()) << dlerror();  // takes the place the plugin had
  ASSERT_TRUE(p.open()) << dlerror();
  if (reinterpret_cast<std::uintptr_t>(p.fn) == first_address) GTEST_SKIP() << "the loader reused the address";
  EXPECT_EQ(other.fn(1), 10) << "the other library was written to";
  EXPECT_EQ(p.fn(1), 302) << "the patch did not follow, or its import still points into the old copy";
  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->address, reinterpret_cast<std::uintptr_t>(p.fn));
  EXPECT_FALSE(row->unloaded);
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(p.fn(1), 2);
  EXPECT_EQ(other.fn(1), 10);
  ASSERT_TRUE(p.close_and_unload());
  ASSERT_TRUE(other.close_and_unload());
}

TEST_F(UnloadedModule, AnotherLibraryWhereThePluginWasIsNeverWrittenTo) {
  Library p(HP_PLUGIN);
  Library other(HP_PLUGIN_OTHER);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so").has_value());
  ASSERT_TRUE(p.close_and_unload());
  ASSERT_TRUE(other.open()) << dlerror();  // most often at the same address
  unsigned char code[16];
  std::memcpy(code, reinterpret_cast<const void*>(other.fn), sizeof code);
  EXPECT_EQ(other.fn(1), 10);

  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr);
  EXPECT_TRUE(row->unloaded);
  EXPECT_TRUE(hotpatch::applied_patches().at(0).targets_unloaded);
  // A patch for the plugin is not applied to a library that is not loaded.
  auto again = hotpatch::apply_patch_file(patch_dir + "/plugin_v2.so");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, hotpatch::ErrorCode::wrong_build) << again.error().what();

  const auto before = hotpatch::engine_stats();
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(hotpatch::engine_stats().code_writes, before.code_writes);
  EXPECT_EQ(std::memcmp(code, reinterpret_cast<const void*>(other.fn), sizeof code), 0) << "the revert wrote into it";
  EXPECT_EQ(other.fn(1), 10);
  ASSERT_TRUE(other.close_and_unload());
}

TEST_F(UnloadedModule, AFollowThatCannotBeDoneIsReportedAndTheLibraryRunsUnpatched) {
  Library p(HP_PLUGIN);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so").has_value());
  ASSERT_TRUE(p.close_and_unload());
  // A crash reporter takes SIGTRAP over: no int3 may be written, so the patch cannot follow.
  struct sigaction mine{}, ours{};
  mine.sa_handler = [](int) {};
  ASSERT_EQ(sigaction(SIGTRAP, &mine, &ours), 0);
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_EQ(sigaction(SIGTRAP, &ours, nullptr), 0);
  EXPECT_EQ(p.fn(1), 2) << "the library must run its own code, whole";
  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr);
  EXPECT_TRUE(row->unloaded);
  EXPECT_NE(row->reload_error.find("the handler hotpatch installed was replaced"), std::string::npos) << row->reload_error;
  // Cancelled without writing into the copy that runs unpatched.
  const auto before = hotpatch::engine_stats();
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(hotpatch::engine_stats().code_writes, before.code_writes);
  EXPECT_EQ(p.fn(1), 2);
  ASSERT_TRUE(p.close_and_unload());
}

TEST_F(UnloadedModule, DlopenThroughTheRuntimeSearchesAsItsCallerWould) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's dlopen interceptor calls dlopen from its own runtime, which libc then takes "
                  "for the caller, with or without hotpatch";
#endif
  Library p(HP_PLUGIN);
  ASSERT_TRUE(p.open()) << dlerror();
  // With a patch applied, every dlopen passes through the runtime's code.
  ASSERT_TRUE(hotpatch::apply_patch_file(patch_dir + "/plugin_v1.so").has_value());
  void* opener = dlopen(HP_RUNPATH_OPENER, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(opener, nullptr) << dlerror();
  auto open_by_name = reinterpret_cast<void* (*)(const char*)>(dlsym(opener, "hp_open_by_name"));
  ASSERT_NE(open_by_name, nullptr);
  EXPECT_EQ(dlopen("libhp_runpath_probe.so", RTLD_NOW | RTLD_NOLOAD), nullptr);
  void* probe = open_by_name("libhp_runpath_probe.so");
  EXPECT_NE(probe, nullptr) << "the opener's RPATH was not searched: " << dlerror();
  void* by_origin = open_by_name("$ORIGIN/runpath_only/libhp_runpath_probe.so");
  EXPECT_NE(by_origin, nullptr) << "$ORIGIN was not the opener's: " << dlerror();
  EXPECT_EQ(open_by_name("libhp_no_such_library.so"), nullptr);
  EXPECT_NE(std::string(dlerror()).find("libhp_no_such_library.so"), std::string::npos);
  if (probe != nullptr) dlclose(probe);
  if (by_origin != nullptr) dlclose(by_origin);
  dlclose(opener);
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  ASSERT_TRUE(p.close_and_unload());
}

}  // namespace
