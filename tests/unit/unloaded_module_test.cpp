// Hazard: a patched library is unloaded (dlclose), and the same or another library may be mapped at
// its address afterwards. No write may land there: the function is listed as unloaded, a revert
// cancels it without writing, and the library loaded again runs its own code.
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

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

struct Plugin {
  void* handle = nullptr;
  Fn fn = nullptr;
  bool open() {
    handle = dlopen(HP_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    fn = handle != nullptr ? reinterpret_cast<Fn>(dlsym(handle, "hp_plugin_value")) : nullptr;
    return fn != nullptr;
  }
  bool close_and_unload() {
    if (dlclose(handle) != 0) return false;
    handle = nullptr;
    return dlopen(HP_PLUGIN, RTLD_NOW | RTLD_NOLOAD) == nullptr;
  }
};

const std::string patch = std::string(HP_PLUGIN_PATCH_DIR) + "/plugin_v1.so";

TEST(UnloadedModule, RevertAfterUnloadWritesNothingAndCancels) {
  hotpatch::set_log_sink({});
  Plugin p;
  ASSERT_TRUE(p.open()) << dlerror();
  ASSERT_EQ(p.fn(1), 2);
  auto applied = hotpatch::apply_patch_file(patch);
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  EXPECT_EQ(p.fn(1), 101);
  ASSERT_TRUE(p.close_and_unload()) << "the plugin stayed loaded: the test proves nothing";

  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr) << "the function vanished from the table";
  EXPECT_TRUE(row->unloaded);

  const auto before = hotpatch::engine_stats();
  auto reverted = hotpatch::revert_patch("plugin");
  ASSERT_TRUE(reverted.has_value()) << reverted.error().what();
  EXPECT_EQ(hotpatch::engine_stats().code_writes, before.code_writes) << "the revert wrote code";
  EXPECT_TRUE(hotpatch::patch_table().empty());

  // Loaded again: its own code runs, and it can be patched like any library.
  ASSERT_TRUE(p.open()) << dlerror();
  EXPECT_EQ(p.fn(1), 2);
  applied = hotpatch::apply_patch_file(patch);
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  EXPECT_EQ(p.fn(1), 101);
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(p.fn(1), 2);
  ASSERT_TRUE(p.close_and_unload());
}

TEST(UnloadedModule, LibraryLoadedAgainUnderAnAppliedPatchIsNotWrittenTo) {
  hotpatch::set_log_sink({});
  Plugin p;
  ASSERT_TRUE(p.open()) << dlerror();
  auto applied = hotpatch::apply_patch_file(patch);
  ASSERT_TRUE(applied.has_value()) << applied.error().what();
  ASSERT_TRUE(p.close_and_unload());
  ASSERT_TRUE(p.open()) << dlerror();  // most often at the same address
  unsigned char code[16];
  std::memcpy(code, reinterpret_cast<const void*>(p.fn), sizeof code);
  EXPECT_EQ(p.fn(1), 2) << "a fresh copy of the library runs its own code";

  const auto rows = hotpatch::patch_table();
  const auto* row = row_for(rows, "hp_plugin_value");
  ASSERT_NE(row, nullptr);
  EXPECT_TRUE(row->unloaded);
  // A new apply over it is refused until the stale one is reverted.
  auto again = hotpatch::apply_patch_file(std::string(HP_PLUGIN_PATCH_DIR) + "/plugin_v2.so");
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().what().find("in a module that has since been unloaded; revert that patch first"), std::string::npos)
      << again.error().what();

  const auto before = hotpatch::engine_stats();
  ASSERT_TRUE(hotpatch::revert_patch("plugin").has_value());
  EXPECT_EQ(hotpatch::engine_stats().code_writes, before.code_writes);
  EXPECT_EQ(std::memcmp(code, reinterpret_cast<const void*>(p.fn), sizeof code), 0) << "the revert wrote into the new copy";
  EXPECT_EQ(p.fn(1), 2);
  ASSERT_TRUE(p.close_and_unload());
}

}  // namespace
