#include "registry/encoding.hpp"
#include "registry/publisher.hpp"
#include "registry/registry_reader.hpp"
#include "registry/sha256.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace hotpatch::registry::test {
namespace {

class Publisher : public ::testing::Test {
 protected:
  TempDir dir;
  minisign::SecretKey key = minisign::generate_secret_key();
  int n = 0;

  PublishItem item(const std::string& id, std::uint32_t version, const std::string& content = {}) {
    std::string path = dir / ("p" + std::to_string(++n) + ".so");
    write_text(path, content.empty() ? id + std::to_string(version) : content);
    return PublishItem{path, id, version, "about " + id, build_id_a, "demo", {"sym"}};
  }
  PublishRequest request(std::vector<PublishItem> items, std::string name = "prod") {
    PublishRequest r;
    r.registry_dir = dir / "reg";
    r.key = key;
    r.registry_name = std::move(name);
    r.patches = std::move(items);
    r.now = base_time();
    return r;
  }
};

TEST_F(Publisher, WritesBlobsIndexAndPointer) {
  auto r = publish(request({item("fix-a", 1), item("fix-b", 2)}));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->index.version, 1u);
  EXPECT_EQ(r->index.patches.size(), 2u);
  EXPECT_EQ(r->new_blobs.size(), 2u);
  for (const auto& e : r->index.patches) {
    auto d = sha256_file(dir / ("reg/blobs/sha256/" + e.blob_sha256 + ".so"));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->sha256, e.blob_sha256);
    EXPECT_EQ(d->size, e.blob_size);
  }
  EXPECT_TRUE(std::filesystem::exists(dir / ("reg/index/" + r->index_sha256 + ".json")));
  auto back = read_published_index(dir / "reg", key.public_key());
  ASSERT_TRUE(back) << back.error().what();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->version, 1u);
  EXPECT_EQ((*back)->expires, base_time() + std::chrono::hours(24 * 7));
}

// Each blob carries its own signature, as `hotpatch sign` writes one: a process pinning the
// registry's key can take the blob over its control socket.
TEST_F(Publisher, SignsEachBlobAndRepairsAMissingOrForeignSignature) {
  auto r = publish(request({item("fix-a", 1)}));
  ASSERT_TRUE(r) << r.error().what();
  const auto& e = r->index.patches.at(0);
  const std::string blob = dir / ("reg/" + blob_path(e.blob_sha256));
  const std::string sig_file = dir / ("reg/" + blob_signature_path(e.blob_sha256));
  auto check = [&] {
    auto sig = minisign::parse_signature(read_text(sig_file));
    ASSERT_TRUE(sig) << sig.error().what();
    const std::string bytes = read_text(blob);
    EXPECT_TRUE(minisign::verify_data(*sig, key.public_key(), as_bytes(bytes)));
    EXPECT_TRUE(minisign::verify_trusted_comment(*sig, key.public_key()));
    EXPECT_EQ(sig->trusted_comment, "hotpatch-patch registry:prod id:fix-a version:1 sha256:" + e.blob_sha256);
  };
  check();
  std::filesystem::remove(sig_file);
  ASSERT_TRUE(publish(request({}, "")));
  check();
  const auto other = minisign::generate_secret_key();
  write_text(sig_file, minisign::format_signature(minisign::sign(other, as_bytes(read_text(blob)), "x", "y")));
  ASSERT_TRUE(publish(request({}, "")));
  check();
}

TEST_F(Publisher, NextPublishKeepsOtherPatchesAndUpgrades) {
  ASSERT_TRUE(publish(request({item("fix-a", 1), item("fix-b", 1)})));
  auto r = publish(request({item("fix-a", 2)}, ""));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->index.version, 2u);
  EXPECT_EQ(r->index.registry, "prod");
  ASSERT_EQ(r->index.patches.size(), 2u);
  EXPECT_EQ(r->index.patches[0].id, "fix-a");
  EXPECT_EQ(r->index.patches[0].patch_version, 2u);
  EXPECT_EQ(r->index.patches[1].patch_version, 1u);
}

TEST_F(Publisher, DowngradeIsRefused) {
  ASSERT_TRUE(publish(request({item("fix-a", 3)})));
  auto r = publish(request({item("fix-a", 2)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::version_not_newer);
  EXPECT_EQ(r.error().what(), "fix-a: version 3 is already published; version 2 would be a downgrade");
}

TEST_F(Publisher, SameVersionWithOtherContentIsRefused) {
  ASSERT_TRUE(publish(request({item("fix-a", 3, "one")})));
  auto same = publish(request({item("fix-a", 3, "one")}));
  EXPECT_TRUE(same);
  auto r = publish(request({item("fix-a", 3, "two")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(),
            "fix-a: version 3 is already published with different content; give the patch a new version");
}

TEST_F(Publisher, OtherKeyIsRefused) {
  ASSERT_TRUE(publish(request({item("fix-a", 1)})));
  auto original = key;
  key = minisign::generate_secret_key();
  auto r = publish(request({item("fix-a", 2)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::untrusted_key);
  EXPECT_EQ(r.error().message, "the registry is signed with key " + minisign::key_id_text(original.id) +
                                   ", not with this key (" + minisign::key_id_text(key.id) +
                                   "); its clients would refuse the new index");
}

TEST_F(Publisher, NameMustMatchAndNewRegistryNeedsOne) {
  auto unnamed = publish(request({item("fix-a", 1)}, ""));
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().message, "is a new registry; give it a name");
  ASSERT_TRUE(publish(request({item("fix-a", 1)})));
  auto r = publish(request({item("fix-a", 2)}, "staging"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "holds registry 'prod', not 'staging'");
}

TEST_F(Publisher, ResigningWithoutPatchesRenewsExpiry) {
  ASSERT_TRUE(publish(request({item("fix-a", 1)})));
  auto req = request({});
  req.now = base_time() + std::chrono::hours(24 * 6);
  auto r = publish(req);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->index.version, 2u);
  EXPECT_EQ(r->index.patches.size(), 1u);
  EXPECT_EQ(r->index.expires, req.now + std::chrono::hours(24 * 7));
}

}  // namespace
}  // namespace hotpatch::registry::test
