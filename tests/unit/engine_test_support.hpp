// Helpers shared by the tests that patch their own process.
#pragma once

#include <hotpatch/runtime.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace hptest {

inline std::string patch_path(const std::string& name) { return std::string(HP_PATCH_DIR) + "/" + name + ".so"; }

template <class F>
std::array<std::uint8_t, 16> code_bytes(F* function) {
  std::array<std::uint8_t, 16> out{};
  std::memcpy(out.data(), reinterpret_cast<const void*>(function), out.size());
  return out;
}

/// Applies and expects success, with the error text in the failure message.
inline void apply_ok(const std::string& name) {
  auto r = hotpatch::apply_patch_file(patch_path(name));
  ASSERT_TRUE(r.has_value()) << r.error().what();
}

inline void revert_ok(const std::string& id) {
  auto r = hotpatch::revert_patch(id);
  ASSERT_TRUE(r.has_value()) << r.error().what();
}

/// Applies and expects the given error code; returns the message for further checks.
inline std::string apply_fails(const std::string& path, hotpatch::ErrorCode code,
                               const hotpatch::ApplyOptions& options = {}) {
  auto r = hotpatch::apply_patch_file(path, options);
  EXPECT_FALSE(r.has_value()) << path << " applied but should not";
  if (r.has_value()) {
    (void)hotpatch::revert_patch(r->manifest.id);
    return {};
  }
  EXPECT_EQ(r.error().code, code) << hotpatch::error_code_name(r.error().code) << ": " << r.error().what();
  return r.error().what();
}

/// Every test leaves the process unpatched.
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(hotpatch::applied_patches().empty()) << "a previous test left patches applied"; }
  void TearDown() override {
    for (auto& p : hotpatch::applied_patches()) (void)hotpatch::revert_patch(p.manifest.id);
  }
};

}  // namespace hptest
