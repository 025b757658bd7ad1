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

// A patch made from a diff: its object, the sections to load, the functions it replaces.
TEST(Manifest, ObjectRecords) {
  const std::string object = rec({"O", "hotpatch_object", "4096", "calc.c"}) + rec({"L", ".text.f"}) + rec({"L", ".rodata.f.str1.1"});
  auto m = parse(kPatch + kTarget + object + rec({"X", "f", "f"}));
  ASSERT_TRUE(m.has_value()) << m.error().what();
  ASSERT_TRUE(m->object.has_value());
  EXPECT_EQ(m->object->symbol, "hotpatch_object");
  EXPECT_EQ(m->object->size, 4096u);
  EXPECT_EQ(m->object->unit, "calc.c");
  EXPECT_EQ(m->object->sections, (std::vector<std::string>{".text.f", ".rodata.f.str1.1"}));
  ASSERT_EQ(m->replaces.size(), 1u);
  EXPECT_TRUE(m->replaces[0].from_object);
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"L", ".text.f"}) + object + rec({"X", "f", "f"})),
              HasSubstr("a section record comes before the object record"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"X", "f", "f"}) + object), HasSubstr("a replacement from the object comes before"));
  EXPECT_THAT(error_of(kPatch + kTarget + object + object + rec({"X", "f", "f"})), HasSubstr("carries two objects"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"O", "o", "0", "u"}) + rec({"L", ".t"}) + rec({"X", "f", "f"})),
              HasSubstr("object size '0' is not a number of bytes from 1 to 256 MiB"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"O", "o", "12", "u"}) + rec({"X", "f", "f"})), HasSubstr("names no section to load"));
  EXPECT_THAT(error_of(kPatch + kTarget + object + rec({"X", "f", "f"}) + rec({"X", "f", "g"})), HasSubstr("'f' is replaced twice"));
}

TEST(Manifest, MissingFile) {
  auto r = hotpatch::read_patch_manifest("/nonexistent/x.so");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, hotpatch::ErrorCode::io);
  EXPECT_THAT(r.error().what(), HasSubstr("/nonexistent/x.so: cannot open: No such file or directory"));
}

}  // namespace
