// Every refusal of issue 3 at the client level: each must leave the saved state as it was and apply
// nothing, and its message must say what and why.
#include "registry/client_state.hpp"
#include "registry/encoding.hpp"
#include "registry/index_format.hpp"
#include "registry/sha256.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

class ClientRefusal : public ::testing::Test {
 protected:
  TestRegistry reg;
  TempDir cache;
  FakeEngine engine;
  TimePoint now = base_time() + 1min;
  RegistryConfig config = client_config(reg, cache);

  RegistryClient make() {
    auto c = RegistryClient::create(config, engine.applier(), [this] { return now; });
    EXPECT_TRUE(c) << c.error().what();
    return std::move(*c);
  }
  std::string state() const { return read_text(cache / "cache/state.json"); }

  // Publishes `text` as the index, signed by the registry key with a comment of our choosing.
  void serve_signed_index(const std::string& text, std::uint64_t version, TimePoint expires) {
    std::string sha = sha256_hex(as_bytes(text));
    write_text(reg.path("index/" + sha + ".json"), text);
    IndexPointer p{reg.name(), version, sha, expires};
    write_text(reg.path("index.minisig"),
               minisign::format_signature(minisign::sign(reg.key(), as_bytes(text), format_pointer_comment(p))));
  }
  std::string current_index_text() {
    auto sig = minisign::parse_signature(reg.pointer_text());
    std::string c = sig->trusted_comment;
    return read_text(reg.path("index/" + c.substr(c.find("sha256:") + 7, 64) + ".json"));
  }

  // Expects `r` to fail with `code` and `message`, the state to be `saved_state`, nothing applied.
  template <class R>
  void expect_refused(const R& r, ErrorCode code, const std::string& message, const std::string& saved_state) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().what();
    EXPECT_EQ(r.error().message, message);
    EXPECT_EQ(state(), saved_state);
  }
};

TEST_F(ClientRefusal, BadSignature) {
  reg.publish("fix-a", 1, build_id_a);
  std::string text = reg.pointer_text();
  auto last_line = text.rfind('\n', text.size() - 2) + 1;
  text[last_line + 5] = text[last_line + 5] == 'A' ? 'B' : 'A';
  write_text(reg.path("index.minisig"), text);
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::signature);
  EXPECT_EQ(r.error().message, "trusted comment does not verify with key " +
                                   minisign::key_id_text(reg.key().id) + " (altered)");
  EXPECT_TRUE(engine.applied.empty());
  EXPECT_FALSE(std::filesystem::exists(cache / "cache/state.json"));
}

TEST_F(ClientRefusal, UnknownKey) {
  reg.publish("fix-a", 1, build_id_a);
  auto other = minisign::generate_secret_key();
  config.trusted_keys = {minisign::format_public_key(other.public_key())};
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::untrusted_key);
  EXPECT_EQ(r.error().message,
            "made by key " + minisign::key_id_text(reg.key().id) + ", which is not a trusted key");
  EXPECT_TRUE(engine.applied.empty());
}

TEST_F(ClientRefusal, WrongRegistryName) {
  reg.publish("fix-a", 1, build_id_a);
  config.registry_name = "staging";
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::integrity);
  EXPECT_EQ(r.error().message, "is signed for registry 'prod', but this client trusts registry 'staging'");
  EXPECT_TRUE(engine.applied.empty());
}

TEST_F(ClientRefusal, RollbackToAnOlderSignedIndex) {
  reg.publish("fix-a", 1, build_id_a);
  std::string old_pointer = reg.pointer_text();
  reg.publish("fix-a", 2, build_id_a);
  {
    auto client = make();
    ASSERT_TRUE(client.apply_available());
  }
  std::string saved = state();
  engine.applied.clear();
  write_text(reg.path("index.minisig"), old_pointer);
  auto client = make();  // a restart must not forget what was seen
  now += 2h;
  expect_refused(client.apply_available(), ErrorCode::rollback,
                 "index version 1 is older than version 2 already seen (rollback refused)", saved);
  EXPECT_TRUE(engine.applied.empty());
  EXPECT_EQ(client.index_version(), 2u);
}

TEST_F(ClientRefusal, SameVersionWithOtherContent) {
  reg.publish("fix-a", 1, build_id_a);
  auto client = make();
  ASSERT_TRUE(client.update());
  std::string saved = state();
  auto index = parse_index(current_index_text());
  ASSERT_TRUE(index);
  index->patches[0].about = "something else";
  std::string text = serialize_index(*index);
  serve_signed_index(text, index->version, index->expires);
  auto old_sha = parse_client_state(saved)->index_sha256;
  expect_refused(client.update(), ErrorCode::rollback,
                 "index version 1 now names sha256 " + sha256_hex(as_bytes(text)) + " but named " + old_sha +
                     " before (same version, different content: equivocation refused)",
                 saved);
}

TEST_F(ClientRefusal, ExpiredIndexFromTheRegistry) {
  reg.publish("fix-a", 1, build_id_a, base_time(), 24h);
  now = base_time() + 25h;
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::expired);
  EXPECT_EQ(r.error().message,
            "index version 1 expired at 2026-01-02T00:00:00Z (now 2026-01-02T01:00:00Z); refusing a stale registry "
            "(freeze)");
  EXPECT_TRUE(engine.applied.empty());
}

TEST_F(ClientRefusal, ExpiredCacheWhileTheRegistryIsBlocked) {
  reg.publish("fix-a", 1, build_id_a, base_time(), 24h);
  auto client = make();
  ASSERT_TRUE(client.update());
  std::filesystem::rename(reg.dir(), reg.dir() + ".blocked");
  now = base_time() + 25h;
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::expired);
  EXPECT_EQ(r.error().message,
            "the cached index version 1 expired at 2026-01-02T00:00:00Z and no newer one could be fetched; "
            "staying at the current patch level");
  EXPECT_TRUE(engine.applied.empty());
}

TEST_F(ClientRefusal, TamperedBlobMeansNothingIsApplied) {
  reg.publish("fix-a", 1, build_id_a);
  reg.publish("fix-b", 1, build_id_a);
  auto index = parse_index(current_index_text());
  ASSERT_TRUE(index);
  const auto& b = index->patches[1];
  std::string blob_file = reg.path("blobs/sha256/" + b.blob_sha256 + ".so");
  std::string content = read_text(blob_file);
  content[0] = 'X';
  write_text(blob_file, content);
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::integrity);
  EXPECT_EQ(r.error().what(), "blob of patch fix-b v1: has sha256 " + sha256_hex(as_bytes(content)) +
                                  ", the signed index says " + b.blob_sha256);
  EXPECT_TRUE(engine.applied.empty()) << "fix-a must not be applied when fix-b's blob is bad";
}

TEST_F(ClientRefusal, TruncatedAndOversizeBlobs) {
  reg.publish("fix-a", 1, build_id_a);
  auto index = parse_index(current_index_text());
  ASSERT_TRUE(index);
  const auto& a = index->patches[0];
  std::string blob_file = reg.path("blobs/sha256/" + a.blob_sha256 + ".so");
  std::string content = read_text(blob_file);
  write_text(blob_file, content.substr(0, content.size() - 1));
  auto client = make();
  auto shorter = client.apply_available();
  ASSERT_FALSE(shorter);
  EXPECT_EQ(shorter.error().code, ErrorCode::integrity);
  EXPECT_EQ(shorter.error().message, "has " + std::to_string(a.blob_size - 1) + " bytes, the signed index says " +
                                         std::to_string(a.blob_size));
  write_text(blob_file, content + "more");
  auto longer = client.apply_available();
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().code, ErrorCode::too_large);
  EXPECT_EQ(longer.error().what(), "blob of patch fix-a v1: is larger than the " + std::to_string(a.blob_size) +
                                       " bytes the signed index says");
  EXPECT_TRUE(engine.applied.empty());
}

TEST_F(ClientRefusal, OversizePointerAndIndex) {
  reg.publish("fix-a", 1, build_id_a);
  config.max_pointer_bytes = 100;
  {
    auto client = make();
    auto r = client.update();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::too_large);
    EXPECT_EQ(r.error().message, "response exceeds the cap of 100 bytes");
  }
  config.max_pointer_bytes = 4096;
  config.max_index_bytes = 100;
  auto client = make();
  auto r = client.update();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "response exceeds the cap of 100 bytes");
  EXPECT_FALSE(std::filesystem::exists(cache / "cache/state.json"));
}

TEST_F(ClientRefusal, BlobAboveTheConfiguredCap) {
  reg.publish("fix-a", 1, build_id_a);
  config.max_blob_bytes = 10;
  auto client = make();
  auto r = client.apply_available();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_TRUE(r.error().message.ends_with("bytes, above the cap of 10")) << r.error().message;
}

TEST_F(ClientRefusal, MalformedAndDuplicateKeyIndex) {
  reg.publish("fix-a", 1, build_id_a);
  auto client = make();
  ASSERT_TRUE(client.update());
  std::string saved = state();
  std::string text = current_index_text();
  std::string dup = text;
  dup.insert(1, "\"version\": 2,");
  dup.replace(dup.find("\"version\": 1"), 12, "\"version\": 2");
  auto index = parse_index(text);
  serve_signed_index(dup, 2, index->expires);
  expect_refused(client.update(), ErrorCode::parse, "has duplicate key \"version\"", saved);
  serve_signed_index("{\"schema\": 1, \"registry\": ", 2, index->expires);
  expect_refused(client.update(), ErrorCode::parse, "is not valid JSON", saved);
  EXPECT_EQ(client.index_version(), 1u);
}

}  // namespace
}  // namespace hotpatch::registry::test
