// Every refusal of the client's trust rules, on in-memory signed data.
#include "registry/encoding.hpp"
#include "registry/sha256.hpp"
#include "registry/trust_check.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

class TrustCheck : public ::testing::Test {
 protected:
  minisign::SecretKey key = minisign::generate_secret_key();
  std::vector<minisign::PublicKey> keys{key.public_key()};
  TimePoint now = base_time();

  Index index(std::uint64_t version, std::string name = "prod") {
    Index idx;
    idx.registry = std::move(name);
    idx.version = version;
    idx.published = now;
    idx.expires = now + 24h;
    idx.patches.push_back(IndexEntry{"fix", 1, "a", build_id_a, "demo", {"f"}, std::string(64, 'a'), 10});
    return idx;
  }
  // A pointer for `text` whose comment says what `idx` says.
  std::string pointer_for(const std::string& text, const Index& idx, const minisign::SecretKey& k) {
    IndexPointer p{idx.registry, idx.version, sha256_hex(as_bytes(text)), idx.expires};
    return minisign::format_signature(minisign::sign(k, as_bytes(text), format_pointer_comment(p)));
  }
  TrustAnchor anchor(std::optional<std::uint64_t> last = std::nullopt, std::string_view sha = {}) {
    return TrustAnchor{keys, "prod", last, sha};
  }
};

TEST_F(TrustCheck, AcceptsAGoodPointerAndIndex) {
  std::string text = serialize_index(index(5));
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(), now);
  ASSERT_TRUE(cp) << cp.error().what();
  auto idx = check_index(*cp, text);
  ASSERT_TRUE(idx) << idx.error().what();
  EXPECT_EQ(idx->version, 5u);
}

TEST_F(TrustCheck, UnknownKeyIsRefused) {
  auto stranger = minisign::generate_secret_key();
  std::string text = serialize_index(index(5));
  auto cp = check_pointer(pointer_for(text, index(5), stranger), anchor(), now);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::untrusted_key);
  EXPECT_EQ(cp.error().message, "made by key " + minisign::key_id_text(stranger.id) + ", which is not a trusted key");
}

TEST_F(TrustCheck, BadSignatureIsRefused) {
  std::string text = serialize_index(index(5));
  std::string pointer = pointer_for(text, index(5), key);
  pointer.replace(pointer.find("version:5"), 9, "version:6");
  auto cp = check_pointer(pointer, anchor(), now);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::signature);
  EXPECT_EQ(cp.error().message,
            "trusted comment does not verify with key " + minisign::key_id_text(key.id) + " (altered)");
}

TEST_F(TrustCheck, WrongRegistryNameIsRefused) {
  std::string text = serialize_index(index(5, "staging"));
  auto cp = check_pointer(pointer_for(text, index(5, "staging"), key), anchor(), now);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::integrity);
  EXPECT_EQ(cp.error().message, "is signed for registry 'staging', but this client trusts registry 'prod'");
}

TEST_F(TrustCheck, LowerVersionIsRollback) {
  std::string text = serialize_index(index(4));
  auto cp = check_pointer(pointer_for(text, index(4), key), anchor(5, std::string(64, 'f')), now);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::rollback);
  EXPECT_EQ(cp.error().message, "index version 4 is older than version 5 already seen (rollback refused)");
}

TEST_F(TrustCheck, SameVersionOtherContentIsEquivocation) {
  std::string text = serialize_index(index(5));
  std::string seen(64, 'f');
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(5, seen), now);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::rollback);
  EXPECT_EQ(cp.error().message, "index version 5 now names sha256 " + sha256_hex(as_bytes(text)) + " but named " +
                                    seen + " before (same version, different content: equivocation refused)");
}

TEST_F(TrustCheck, SameVersionSameContentIsAccepted) {
  std::string text = serialize_index(index(5));
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(5, sha256_hex(as_bytes(text))), now);
  EXPECT_TRUE(cp);
}

TEST_F(TrustCheck, ExpiredIndexIsFreeze) {
  std::string text = serialize_index(index(5));
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(), now + 24h);
  ASSERT_FALSE(cp);
  EXPECT_EQ(cp.error().code, ErrorCode::expired);
  EXPECT_EQ(cp.error().message,
            "index version 5 expired at 2026-01-02T00:00:00Z (now 2026-01-02T00:00:00Z); refusing a stale registry "
            "(freeze)");
}

TEST_F(TrustCheck, IndexWithOtherHashIsRefused) {
  std::string text = serialize_index(index(5));
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(), now);
  ASSERT_TRUE(cp);
  std::string altered = text + " ";
  auto r = check_index(*cp, altered);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::integrity);
  EXPECT_EQ(r.error().message, "has sha256 " + sha256_hex(as_bytes(altered)) + ", the signed pointer names " +
                                   sha256_hex(as_bytes(text)));
}

TEST_F(TrustCheck, IndexNotCoveredBySignatureIsRefused) {
  // The comment names this index's hash, but the file signature was made over other bytes.
  std::string text = serialize_index(index(5));
  IndexPointer p{"prod", 5, sha256_hex(as_bytes(text)), index(5).expires};
  auto sig = minisign::sign(key, as_bytes("other bytes"), format_pointer_comment(p));
  auto cp = check_pointer(minisign::format_signature(sig), anchor(), now);
  ASSERT_TRUE(cp);
  auto r = check_index(*cp, text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::signature);
  EXPECT_EQ(r.error().message, "signed file does not verify with key " + minisign::key_id_text(key.id) +
                                   " (file altered)");
}

TEST_F(TrustCheck, IndexDisagreeingWithCommentIsRefused) {
  Index inner = index(5);
  std::string text = serialize_index(inner);
  Index claimed = inner;
  claimed.version = 6;
  auto cp = check_pointer(pointer_for(text, claimed, key), anchor(), now);
  ASSERT_TRUE(cp);
  auto r = check_index(*cp, text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::integrity);
  EXPECT_EQ(r.error().message,
            "says registry 'prod' version 5 expires 2026-01-02T00:00:00Z, its signature says registry 'prod' "
            "version 6 expires 2026-01-02T00:00:00Z");
}

TEST_F(TrustCheck, DuplicateKeyIndexIsRefusedEvenWhenSigned) {
  std::string text = serialize_index(index(5));
  text.insert(1, "\"registry\": \"prod\",");
  auto cp = check_pointer(pointer_for(text, index(5), key), anchor(), now);
  ASSERT_TRUE(cp);
  auto r = check_index(*cp, text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::parse);
  EXPECT_EQ(r.error().message, "has duplicate key \"registry\"");
}

TEST_F(TrustCheck, BlobSizeAndHashAreChecked) {
  std::string blob = "0123456789";
  IndexEntry e{"fix", 2, "a", build_id_a, "demo", {}, sha256_hex(as_bytes(blob)), blob.size()};
  EXPECT_TRUE(check_blob(e, as_bytes(blob)));
  auto short_blob = check_blob(e, as_bytes("012345678"));
  ASSERT_FALSE(short_blob);
  EXPECT_EQ(short_blob.error().code, ErrorCode::integrity);
  EXPECT_EQ(short_blob.error().what(), "blob of patch fix v2: has 9 bytes, the signed index says 10");
  std::string other = "0123456780";
  auto wrong = check_blob(e, as_bytes(other));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().what(), "blob of patch fix v2: has sha256 " + sha256_hex(as_bytes(other)) +
                                      ", the signed index says " + e.blob_sha256);
}

}  // namespace
}  // namespace hotpatch::registry::test
