// The .hotpatch record parser on hand-made sections: what it accepts and every refusal.
#include <hotpatch/runtime.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

using ::testing::HasSubstr;

namespace {

std::string rec(std::initializer_list<std::string> fields) {
  std::string out;
  for (const auto& f : fields) out += f + std::string(1, '\0');
  return out + std::string(1, '\0');
}

const std::string kPatch = rec({"P", "1", "fix-1", "3", "fixes things"});
const std::string kTarget = rec({"T", "0123abcd", "prog"});
const std::string kReplace = rec({"R", "hello", "hotpatch_replacement_f"});

hotpatch::Result<hotpatch::PatchManifest> parse(const std::string& s) {
  return hotpatch::parse_patch_manifest(s.data(), s.size());
}

std::string error_of(const std::string& s) {
  auto r = parse(s);
  EXPECT_FALSE(r.has_value());
  if (r.has_value()) return {};
  EXPECT_EQ(r.error().code, hotpatch::ErrorCode::malformed_patch);
  return r.error().what();
}

TEST(Manifest, ParsesAllRecordKinds) {
  auto m = parse(std::string(3, '\0') + kPatch + kTarget + kReplace + rec({"I", "counter", "c"}) + std::string(2, '\0'));
  ASSERT_TRUE(m.has_value()) << m.error().what();
  EXPECT_EQ(m->id, "fix-1");
  EXPECT_EQ(m->version, 3u);
  EXPECT_EQ(m->about, "fixes things");
  EXPECT_EQ(m->target_build_id, "0123abcd");
  EXPECT_EQ(m->target_module, "prog");
  ASSERT_EQ(m->replaces.size(), 1u);
  EXPECT_EQ(m->replaces[0].target_symbol, "hello");
  ASSERT_EQ(m->imports.size(), 1u);
  EXPECT_EQ(m->imports[0].variable, "c");
}

TEST(Manifest, EmptyAboutIsAllowed) {
  auto m = parse(rec({"P", "1", "x", "1"}) + kTarget + kReplace);
  ASSERT_TRUE(m.has_value()) << m.error().what();
  EXPECT_EQ(m->about, "");
}

TEST(Manifest, Refusals) {
  EXPECT_THAT(error_of(kTarget + kReplace), HasSubstr("no HOTPATCH_PATCH record"));
  EXPECT_THAT(error_of(kPatch + kReplace), HasSubstr("no HOTPATCH_TARGET record"));
  EXPECT_THAT(error_of(kPatch + kTarget), HasSubstr("replaces nothing"));
  EXPECT_THAT(error_of(kPatch + kPatch + kTarget + kReplace), HasSubstr("declared twice"));
  EXPECT_THAT(error_of(kPatch + kTarget + kTarget + kReplace), HasSubstr("two targets"));
  EXPECT_THAT(error_of(kPatch + kTarget + kReplace + kReplace), HasSubstr("'hello' is replaced twice"));
  EXPECT_THAT(error_of(rec({"P", "2", "x", "1", "a"}) + kTarget + kReplace), HasSubstr("record format 2 is not supported"));
  EXPECT_THAT(error_of(rec({"P", "1", "bad id!", "1", "a"}) + kTarget + kReplace), HasSubstr("patch id 'bad id!' is invalid"));
  EXPECT_THAT(error_of(rec({"P", "1", "x", "0", "a"}) + kTarget + kReplace), HasSubstr("version '0' is not an integer from 1"));
  EXPECT_THAT(error_of(rec({"P", "1", "x", "99999999999", "a"}) + kTarget + kReplace), HasSubstr("is not an integer"));
  EXPECT_THAT(error_of(rec({"P", "1", "x", "1x", "a"}) + kTarget + kReplace), HasSubstr("is not an integer"));
  EXPECT_THAT(error_of(kPatch + rec({"T", "XYZ", "p"}) + kReplace), HasSubstr("build-id 'XYZ' is not lower-case hex"));
  EXPECT_THAT(error_of(kPatch + kTarget + kReplace + rec({"Q", "?"})), HasSubstr("unknown record kind 'Q'"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"R", "only-one-field"})), HasSubstr("HOTPATCH_REPLACE record has 2 fields"));
  EXPECT_THAT(error_of(kPatch + kTarget + kReplace + "R\0abc"), HasSubstr("ends inside a record"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"R", std::string(5000, 'a'), "f"})), HasSubstr("longer than 4096 bytes"));
  const std::string huge(2 << 20, 'a');
  EXPECT_THAT(error_of(huge), HasSubstr("larger than 1 MiB"));
}

TEST(Manifest, MissingFile) {
  auto r = hotpatch::read_patch_manifest("/nonexistent/x.so");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, hotpatch::ErrorCode::io);
  EXPECT_THAT(r.error().what(), HasSubstr("/nonexistent/x.so: cannot open: No such file or directory"));
}

}  // namespace
