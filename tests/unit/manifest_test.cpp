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

// A patch made from a diff: its objects (one per fixed unit), the sections to load, the functions
// each replaces.
TEST(Manifest, ObjectRecords) {
  const std::string object = rec({"O", "hotpatch_object_0", "4096", "calc.c"}) + rec({"L", "hotpatch_object_0", ".text.f"}) +
                             rec({"L", "hotpatch_object_0", ".rodata.f.str1.1"});
  auto m = parse(kPatch + kTarget + object + rec({"X", "f", "f", "hotpatch_object_0"}));
  ASSERT_TRUE(m.has_value()) << m.error().what();
  ASSERT_EQ(m->objects.size(), 1u);
  EXPECT_EQ(m->objects[0].symbol, "hotpatch_object_0");
  EXPECT_EQ(m->objects[0].size, 4096u);
  EXPECT_EQ(m->objects[0].unit, "calc.c");
  EXPECT_EQ(m->objects[0].sections, (std::vector<std::string>{".text.f", ".rodata.f.str1.1"}));
  ASSERT_EQ(m->replaces.size(), 1u);
  EXPECT_TRUE(m->replaces[0].from_object);
  EXPECT_EQ(m->replaces[0].object, 0u);
  const std::string x = rec({"X", "f", "f", "hotpatch_object_0"});
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"L", "hotpatch_object_0", ".text.f"}) + object + x),
              HasSubstr("a section record names object 'hotpatch_object_0', which no earlier object record declares"));
  EXPECT_THAT(error_of(kPatch + kTarget + x + object),
              HasSubstr("a replacement names object 'hotpatch_object_0', which no earlier object record declares"));
  EXPECT_THAT(error_of(kPatch + kTarget + object + object + x), HasSubstr("object 'hotpatch_object_0' is declared twice"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"O", "o", "0", "u"}) + rec({"L", "o", ".t"}) + rec({"X", "f", "f", "o"})),
              HasSubstr("object size '0' is not a number of bytes from 1 to 256 MiB"));
  EXPECT_THAT(error_of(kPatch + kTarget + rec({"O", "o", "12", "u"}) + rec({"X", "f", "f", "o"})),
              HasSubstr("the patch's object 'o' names no section to load"));
  EXPECT_THAT(error_of(kPatch + kTarget + object + x + rec({"X", "f", "g", "hotpatch_object_0"})), HasSubstr("'f' is replaced twice"));
  EXPECT_THAT(error_of(kPatch + kTarget + object + rec({"L", ".text.f"}) + x), HasSubstr("a section record has 2 fields"));
}

// Two fixed units: a static of the same name in each is two targets, told apart by the unit.
TEST(Manifest, ObjectsOfTwoUnits) {
  const std::string a = rec({"O", "hotpatch_object_0", "64", "a.c"}) + rec({"L", "hotpatch_object_0", ".text.helper"});
  const std::string b = rec({"O", "hotpatch_object_1", "64", "b.c"}) + rec({"L", "hotpatch_object_1", ".text.helper"});
  auto m = parse(kPatch + kTarget + a + b + rec({"X", "helper", "helper", "hotpatch_object_1"}) +
                 rec({"X", "helper", "helper", "hotpatch_object_0"}));
  ASSERT_TRUE(m.has_value()) << m.error().what();
  ASSERT_EQ(m->objects.size(), 2u);
  EXPECT_EQ(m->objects[1].unit, "b.c");
  ASSERT_EQ(m->replaces.size(), 2u);
  EXPECT_EQ(m->replaces[0].object, 1u);
  EXPECT_EQ(m->replaces[1].object, 0u);
  std::string many = kPatch + kTarget;
  for (int i = 0; i <= 256; ++i) many += rec({"O", "o" + std::to_string(i), "64", "u.c"});
  EXPECT_THAT(error_of(many), HasSubstr("carries more than 256 objects"));
}

TEST(Manifest, MissingFile) {
  auto r = hotpatch::read_patch_manifest("/nonexistent/x.so");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, hotpatch::ErrorCode::io);
  EXPECT_THAT(r.error().what(), HasSubstr("/nonexistent/x.so: cannot open: No such file or directory"));
}

}  // namespace
