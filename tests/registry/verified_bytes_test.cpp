// The applier gets the exact bytes whose size and SHA-256 the signed index vouches for, with the
// index entry's id and version: replacing the cache file at the moment of the apply changes nothing,
// and a blob that claims to be another patch than its entry is refused.
#include "registry/encoding.hpp"
#include "registry/sha256.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

class VerifiedBytes : public ::testing::Test {
 protected:
  TestRegistry reg;
  TempDir cache;
  FakeEngine engine;
  TimePoint now = base_time() + 1min;

  RegistryClient make() {
    auto c = RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
    EXPECT_TRUE(c) << c.error().what();
    return std::move(*c);
  }
  std::string signed_blob(const std::string& sha) const { return read_text(reg.path("blobs/sha256/" + sha + ".so")); }
  std::string blob_entry(const std::string& sha) const { return cache / ("cache/blob-" + sha + ".so"); }
};

TEST_F(VerifiedBytes, ApplierGetsTheIndexEntryAndItsBytes) {
  reg.publish("fix-a", 3, build_id_a);
  auto client = make();
  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(engine.received.size(), 1u);
  const auto& p = engine.received[0];
  std::string sha = client.available().at(0).blob_sha256;
  EXPECT_EQ(p.id, "fix-a");
  EXPECT_EQ(p.version, 3u);
  EXPECT_EQ(p.blob_sha256, sha);
  EXPECT_EQ(p.name, "registry 'prod' blob sha256:" + sha);
  EXPECT_EQ(engine.received_bytes[0], signed_blob(sha));
}

TEST_F(VerifiedBytes, CacheFileSwappedWhileTheApplierRunsChangesNothing) {
  reg.publish("fix-a", 1, build_id_a);
  auto client = make();
  ASSERT_TRUE(client.apply_available());  // the blob is cached now
  engine.applied.clear();
  std::string sha = client.available().at(0).blob_sha256;
  std::string evil = "PATCH fix-a 1 code of someone else\n";
  std::vector<std::string> seen_on_disk;
  // The moment an applier reading the file again would read it: the file is swapped, same size.
  engine.on_apply = [&](const VerifiedPatch&) {
    std::string good = read_text(blob_entry(sha));
    evil.resize(good.size(), 'y');
    write_text(blob_entry(sha) + ".new", evil);
    ASSERT_EQ(std::rename((blob_entry(sha) + ".new").c_str(), blob_entry(sha).c_str()), 0);
    seen_on_disk.push_back(read_text(blob_entry(sha)));
  };

  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->applied.size(), 1u);
  ASSERT_EQ(seen_on_disk, std::vector<std::string>{evil});
  ASSERT_EQ(engine.received_bytes.size(), 2u);
  EXPECT_EQ(engine.received_bytes[1], signed_blob(sha));
  EXPECT_EQ(sha256_hex(as_bytes(engine.received_bytes[1])), sha);

  // The swapped file fails the hash on the next use and is replaced from the registry.
  engine.on_apply = nullptr;
  engine.applied.clear();
  ASSERT_TRUE(client.apply_available());
  EXPECT_EQ(engine.received_bytes.at(2), signed_blob(sha));
  EXPECT_EQ(read_text(blob_entry(sha)), signed_blob(sha));
}

TEST_F(VerifiedBytes, BlobClaimingAnotherPatchThanItsEntryIsRefused) {
  // A correctly signed index whose entry ".." points at the blob of patch "answer".
  std::string file = cache / "answer.so";
  write_text(file, "PATCH answer 1 the real answer patch\n");
  PublishRequest req;
  req.registry_dir = reg.dir();
  req.key = reg.key();
  req.registry_name = reg.name();
  req.validity = 24h;
  req.now = base_time();
  req.patches.push_back(PublishItem{file, "..", 1, "posing", build_id_a, "demo", {"hello"}});
  auto published = publish(req);
  ASSERT_TRUE(published) << published.error().what();

  auto client = make();
  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->applied.empty());
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].patch.id, "..");
  EXPECT_EQ(r->failed[0].error.code, ErrorCode::malformed_patch);
  EXPECT_EQ(r->failed[0].error.message, "declares answer v1, but it was offered as .. v1");
  ASSERT_EQ(engine.received.size(), 1u);
  EXPECT_EQ(engine.received[0].id, "..");
  EXPECT_EQ(engine.received[0].version, 1u);
  EXPECT_TRUE(engine.applied.empty());
}

}  // namespace
}  // namespace hotpatch::registry::test
