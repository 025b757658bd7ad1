// engine_applier() with the real engine: the bytes handed over are what is loaded, and a blob whose
// manifest declares another id or version than its signed index entry is refused, nothing patched.
#include "registry/encoding.hpp"
#include "registry/publisher.hpp"
#include "registry/sha256.hpp"
#include "test_support.hpp"

#include <hotpatch/registry.hpp>
#include <hotpatch/runtime.hpp>

#include <gtest/gtest.h>

extern "C" int hp_registry_answer(int x);

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

class EngineApplier : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_sink({});
    ASSERT_FALSE(bytes.empty()) << "patch not built: " << HP_REGISTRY_ANSWER_PATCH;
    ASSERT_EQ(hp_registry_answer(1), 2);
  }
  void TearDown() override {
    for (const auto& p : applied_patches()) (void)revert_patch(p.manifest.id);
  }
  VerifiedPatch offered(std::string id, std::uint32_t version) const {
    return VerifiedPatch{std::move(id), version, sha256_hex(as_bytes(bytes)), "test blob", as_bytes(bytes)};
  }
  // Publishes the patch under the index entry `id` v1, bound to this program's build-id.
  void publish_as(TestRegistry& reg, const std::string& id) {
    auto m = read_patch_manifest(HP_REGISTRY_ANSWER_PATCH);
    ASSERT_TRUE(m) << m.error().what();
    PublishRequest req;
    req.registry_dir = reg.dir();
    req.key = reg.key();
    req.registry_name = reg.name();
    req.validity = 24h;
    req.now = base_time();
    req.patches.push_back(
        PublishItem{HP_REGISTRY_ANSWER_PATCH, id, 1, "answer", m->target_build_id, m->target_module, {}});
    auto r = publish(req);
    ASSERT_TRUE(r) << r.error().what();
  }

  std::string bytes = read_text(HP_REGISTRY_ANSWER_PATCH);
};

TEST_F(EngineApplier, AppliesTheBytesItIsGiven) {
  auto s = engine_applier().apply(offered("answer-fix", 1));
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_EQ(hp_registry_answer(1), 101);
  ASSERT_EQ(applied_patches().size(), 1u);
  EXPECT_EQ(applied_patches()[0].path, "test blob");
}

TEST_F(EngineApplier, BlobDeclaringAnotherIdIsRefused) {
  auto s = engine_applier().apply(offered("answer", 1));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::malformed_patch);
  EXPECT_EQ(s.error().what(), "patch 'answer-fix' v1: declares id 'answer-fix', but it was offered as patch 'answer'");
  EXPECT_EQ(hp_registry_answer(1), 2);
  EXPECT_TRUE(applied_patches().empty());
}

TEST_F(EngineApplier, BlobDeclaringAnotherVersionIsRefused) {
  auto s = engine_applier().apply(offered("answer-fix", 2));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::malformed_patch);
  EXPECT_EQ(s.error().what(), "patch 'answer-fix' v1: declares version 1, but it was offered as version 2");
  EXPECT_EQ(hp_registry_answer(1), 2);
}

TEST_F(EngineApplier, IndexEntryPosingAsAnotherPatchIsRefusedThroughTheClient) {
  TestRegistry reg;
  TempDir cache;
  publish_as(reg, "..");
  auto client = RegistryClient::create(client_config(reg, cache), engine_applier(), [] { return base_time() + 1min; });
  ASSERT_TRUE(client) << client.error().what();
  auto r = client->apply_available();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->applied.empty());
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].patch.id, "..");
  EXPECT_EQ(r->failed[0].error.code, ErrorCode::malformed_patch);
  EXPECT_EQ(r->failed[0].error.message, "declares id 'answer-fix', but it was offered as patch '..'");
  EXPECT_EQ(hp_registry_answer(1), 2);

  // The same blob under its own id is applied, from the bytes the client verified.
  publish_as(reg, "answer-fix");
  ASSERT_TRUE(client->update());
  auto again = client->apply_available();
  ASSERT_TRUE(again) << again.error().what();
  ASSERT_EQ(again->applied.size(), 1u);
  EXPECT_EQ(again->applied[0].id, "answer-fix");
  EXPECT_EQ(hp_registry_answer(1), 101);
  ASSERT_EQ(applied_patches().size(), 1u);
  EXPECT_EQ(applied_patches()[0].path, "registry 'prod' blob sha256:" + sha256_hex(as_bytes(bytes)));
}

}  // namespace
}  // namespace hotpatch::registry::test
