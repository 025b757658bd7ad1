// End to end over HTTP: a real nginx serves a published registry; this (patchable) program fetches,
// verifies and patches itself; a newer publish upgrades it; a tampered blob and an older signed
// index are refused and it stays at its level.
#include "nginx_server.hpp"
#include "targets.h"

#include <hotpatch/registry.hpp>
#include <hotpatch/runtime.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {

std::string patch(const std::string& name) { return std::string(HP_PATCH_DIR) + "/" + name + ".so"; }

int run(const std::string& command) { return std::system((command + " >/dev/null").c_str()); }

class RegistryOverNginx : public ::testing::Test {
 protected:
  void SetUp() override {
    hotpatch::set_log_sink({});
    dir_ = fs::temp_directory_path() / ("hotpatch-nginx-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "registry");
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    ASSERT_EQ(run(cli() + " keygen -s " + (dir_ / "k.key").string() + " -p " + (dir_ / "k.pub").string()), 0);
  }
  void TearDown() override {
    for (auto& p : hotpatch::applied_patches()) (void)hotpatch::revert_patch(p.manifest.id);
    fs::remove_all(dir_);
  }
  static std::string cli() { return HP_HOTPATCH_CLI; }
  void publish(const std::string& so, bool first = false) {
    ASSERT_EQ(run(cli() + " publish --registry " + (dir_ / "registry").string() + " --key " + (dir_ / "k.key").string() +
                  (first ? " --name nginx-test " : " ") + so),
              0);
  }
  hotpatch::RegistryConfig config(const std::string& url, const std::string& cache) {
    hotpatch::RegistryConfig c;
    c.urls = {url};
    c.registry_name = "nginx-test";
    std::ifstream pub(dir_ / "k.pub");
    c.trusted_keys = {std::string(std::istreambuf_iterator<char>(pub), {})};
    c.cache_dir = (dir_ / cache).string();
    c.ttl = std::chrono::seconds(0);  // every apply_available() polls first
    return c;
  }
  fs::path dir_;
};

TEST_F(RegistryOverNginx, FetchVerifyPatchUpgradeAndRefuseTampering) {
  publish(patch("c_add_v1"), true);
  hptest::NginxServer nginx((dir_ / "registry").string());
  ASSERT_TRUE(nginx.ok()) << nginx.error();

  auto client = hotpatch::RegistryClient::create(config(nginx.url(), "cache"));
  ASSERT_TRUE(client.has_value()) << client.error().what();
  auto first = client->apply_available();
  ASSERT_TRUE(first.has_value()) << first.error().what();
  ASSERT_EQ(first->applied.size(), 1u);
  EXPECT_EQ(hp_c_add(1), 101);

  // Keep the version-1 registry to replay it later as a rollback.
  const fs::path old_copy = dir_ / "old";
  fs::copy(dir_ / "registry", old_copy, fs::copy_options::recursive);

  publish(patch("c_add_v2"));
  auto second = client->apply_available();
  ASSERT_TRUE(second.has_value()) << second.error().what();
  ASSERT_EQ(second->applied.size(), 1u);
  EXPECT_EQ(second->applied[0].version, 2u);
  EXPECT_EQ(hp_c_add(1), 201) << "a newer publish upgrades the running program";

  // Tampered blob: publish another patch, then change its bytes on the server.
  publish(patch("statics"));
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "registry" / "blobs")) {
    if (!e.is_regular_file()) continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  auto tampered = client->apply_available();
  const std::string tampered_error =
      !tampered ? tampered.error().what()
                : (tampered->failed.empty() ? std::string() : tampered->failed[0].error.what());
  EXPECT_THAT(tampered_error, HasSubstr("sha256")) << "a changed blob must be refused";
  EXPECT_EQ(hp_call_static(2), 6) << "the tampered patch must not be applied";
  EXPECT_EQ(hp_c_add(1), 201);

  // Rollback: the server now offers the older signed index.
  fs::remove(dir_ / "registry" / "index.minisig");
  fs::copy_file(old_copy / "index.minisig", dir_ / "registry" / "index.minisig");
  auto rolled = client->update();
  ASSERT_FALSE(rolled.has_value()) << "an older signed index must be refused";
  EXPECT_EQ(rolled.error().code, hotpatch::ErrorCode::rollback);
  EXPECT_EQ(hp_c_add(1), 201) << "the program stays at its level";
  EXPECT_EQ(hotpatch::patch_table().size(), 1u);
}

// update() + apply_available() for one patch from nginx on loopback, fresh cache each time.
TEST_F(RegistryOverNginx, TimeToFetchVerifyAndApplyOnePatch) {
  publish(patch("c_add_v1"), true);
  hptest::NginxServer nginx((dir_ / "registry").string());
  ASSERT_TRUE(nginx.ok()) << nginx.error();
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    auto client = hotpatch::RegistryClient::create(config(nginx.url(), "cache" + std::to_string(i)));
    ASSERT_TRUE(client.has_value()) << client.error().what();
    const auto start = std::chrono::steady_clock::now();
    auto u = client->update();
    auto a = client->apply_available();
    const auto stop = std::chrono::steady_clock::now();
    ASSERT_TRUE(u.has_value() && a.has_value() && a->applied.size() == 1);
    ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    ASSERT_TRUE(hotpatch::revert_patch("c-add").has_value());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("update()+apply_available() of one patch from nginx on loopback: median %.2f ms, min %.2f ms, max %.2f ms (n=%zu)\n",
              ms[ms.size() / 2], ms.front(), ms.back(), ms.size());
  RecordProperty("median_ms", std::to_string(ms[ms.size() / 2]));
}

}  // namespace
