// Helpers shared by the tests that patch their own process.
#pragma once

#include <hotpatch/runtime.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace hptest {

/// Installs, for this process and its threads from now on, a seccomp filter that fails one system
/// call with `err` (as systemd's SystemCallFilter or a container profile would). One-way: call it
/// in a forked child. False when the kernel refused the filter.
inline bool deny_syscall(int nr, int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(err)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

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
