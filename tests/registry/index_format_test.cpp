#include "registry/index_format.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace hotpatch::registry::test {
namespace {

Index sample_index() {
  Index idx;
  idx.registry = "prod";
  idx.version = 42;
  idx.published = base_time();
  idx.expires = base_time() + std::chrono::hours(24);
  idx.patches.push_back(IndexEntry{"fix-hello", 3, "says hello right", build_id_a, "demo", {"_Z5hellov"},
                                   std::string(64, 'a'), 16384});
  return idx;
}

std::string valid_json() { return serialize_index(sample_index()); }

void expect_parse_error(const std::string& json, const std::string& message) {
  auto r = parse_index(json);
  ASSERT_FALSE(r) << json;
  EXPECT_EQ(r.error().code, ErrorCode::parse);
  EXPECT_EQ(r.error().message, message);
}

TEST(IndexFormat, RoundTrips) {
  auto r = parse_index(valid_json());
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->registry, "prod");
  EXPECT_EQ(r->version, 42u);
  EXPECT_EQ(r->expires, base_time() + std::chrono::hours(24));
  ASSERT_EQ(r->patches.size(), 1u);
  EXPECT_EQ(r->patches[0].id, "fix-hello");
  EXPECT_EQ(r->patches[0].patch_version, 3u);
  EXPECT_EQ(r->patches[0].replaces, std::vector<std::string>{"_Z5hellov"});
  EXPECT_EQ(r->patches[0].blob_size, 16384u);
  EXPECT_EQ(serialize_index(*r), valid_json());
}

TEST(IndexFormat, DuplicateTopLevelKeyIsRefused) {
  std::string json = valid_json();
  json.insert(1, "\"version\": 99,");
  expect_parse_error(json, "has duplicate key \"version\"");
}

TEST(IndexFormat, DuplicateNestedKeyIsRefused) {
  std::string json = valid_json();
  auto pos = json.find("\"sha256\"");
  json.insert(pos, "\"sha256\": \"" + std::string(64, 'b') + "\", ");
  expect_parse_error(json, "has duplicate key \"sha256\"");
}

TEST(IndexFormat, SameKeyInSiblingObjectsIsFine) {
  Index idx = sample_index();
  idx.patches.push_back(idx.patches[0]);
  idx.patches[1].id = "fix-other";
  EXPECT_TRUE(parse_index(serialize_index(idx)));
}

TEST(IndexFormat, MalformedJsonIsRefused) {
  expect_parse_error("{\"schema\": 1,", "is not valid JSON");
  expect_parse_error("[1, 2]", "must be a JSON object");
}

TEST(IndexFormat, WrongTypesAndValuesAreRefused) {
  std::string json = valid_json();
  expect_parse_error(std::string(json).replace(json.find("\"version\": 42"), 13, "\"version\": \"42\""),
                     "index.version must be a non-negative integer");
  expect_parse_error(std::string(json).replace(json.find("\"schema\": 1"), 11, "\"schema\": 3"),
                     "has schema 3, this client reads schemas 1 and 2 (upgrade hotpatch)");
  expect_parse_error(std::string(json).replace(json.find(std::string(64, 'a')), 64, std::string(64, 'A')),
                     "index.patches[0].blob.sha256 must be 64 lower-case hex digits");
  expect_parse_error(std::string(json).replace(json.find("fix-hello"), 9, "fix hello"),
                     "index.patches[0].id 'fix hello' may hold letters, digits, '.', '_', '-' only");
  expect_parse_error(std::string(json).replace(json.find("\"patch_version\": 3"), 18, "\"patch_version\": 0"),
                     "index.patches[0].patch_version must be between 1 and 4294967295");
}

TEST(IndexFormat, RepeatedPatchIdIsRefused) {
  Index idx = sample_index();
  idx.patches.push_back(idx.patches[0]);
  expect_parse_error(serialize_index(idx), "lists patch id 'fix-hello' twice");
}

TEST(IndexFormat, BadTimestampIsRefused) {
  std::string json = valid_json();
  auto r = parse_index(std::string(json).replace(json.find("2026-01-02T00:00:00Z"), 20, "2026-01-02 00:00:00"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "index.expires: '2026-01-02 00:00:00' is not a UTC time like 2026-12-01T00:00:00Z");
}

TEST(IndexFormat, TimestampOutsideTheClockRangeIsRefused) {
  std::string json = valid_json();
  for (const char* t : {"6200-01-02T00:00:00Z", "1969-12-31T23:59:59Z"}) {
    auto r = parse_index(std::string(json).replace(json.find("2026-01-02T00:00:00Z"), 20, t));
    ASSERT_FALSE(r) << t;
    EXPECT_EQ(r.error().code, ErrorCode::parse) << t;
  }
}

TEST(PointerComment, RoundTrips) {
  IndexPointer p{"prod", 7, std::string(64, 'c'), base_time()};
  std::string text = format_pointer_comment(p);
  EXPECT_EQ(text, "hotpatch-index registry:prod version:7 sha256:" + std::string(64, 'c') +
                      " expires:2026-01-01T00:00:00Z");
  auto r = parse_pointer_comment(text);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->registry, "prod");
  EXPECT_EQ(r->version, 7u);
  EXPECT_EQ(r->expires, base_time());
}

TEST(PointerComment, MalformedCommentsAreRefused) {
  auto r = parse_pointer_comment("timestamp: 123 file: index.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(),
            "index.minisig: trusted comment is not 'hotpatch-index registry:... version:... sha256:... expires:...'");
  r = parse_pointer_comment("hotpatch-index registry:prod version:7x sha256:" + std::string(64, 'c') +
                            " expires:2026-01-01T00:00:00Z");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "trusted comment has no valid version:N");
}

}  // namespace
}  // namespace hotpatch::registry::test
