// The linker inside the runtime for patches made from a diff: an object's code loaded next to a
// module reaches the program's variables and functions, and every refusal names its reason.
#include "engine/object_loader.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" {
int program_counter = 0;
__attribute__((noinline, used)) int program_twice(int x) { return 2 * x; }
__attribute__((noinline, used)) int program_length(const char* s) { return static_cast<int>(std::strlen(s)); }
}

namespace {

using hotpatch::engine::load_object_near;

std::vector<std::uint8_t> bytes_of(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Symbols as the runtime would find them in the program, here this test itself.
hotpatch::Result<std::uintptr_t> lookup(const std::string& name, bool, const std::string&) {
  if (name == "program_counter") return reinterpret_cast<std::uintptr_t>(&program_counter);
  if (name == "program_twice") return reinterpret_cast<std::uintptr_t>(&program_twice);
  if (name == "program_length") return reinterpret_cast<std::uintptr_t>(&program_length);
  return hotpatch::make_error(hotpatch::ErrorCode::symbol_not_found, name, "not in this test's program");
}

std::uintptr_t near_here() { return reinterpret_cast<std::uintptr_t>(&program_twice); }

std::string error_of(const char* object, std::vector<std::string> sections,
                     const hotpatch::engine::ObjectSymbolLookup& resolve = lookup) {
  auto bytes = bytes_of(object);
  auto r = load_object_near(bytes, sections, near_here(), resolve, "patch 'test' v1");
  return r ? std::string("loaded") : r.error().what();
}

TEST(ObjectLoader, CodeReachesTheProgramsVariablesAndFunctions) {
  auto bytes = bytes_of(HP_OBJECT_REACHES_PROGRAM);
  ASSERT_FALSE(bytes.empty());
  auto loaded = load_object_near(bytes, {".text.fixed_function", ".rodata.fixed_function.str1.1"}, near_here(), lookup, "patch 'test' v1");
  ASSERT_TRUE(loaded) << loaded.error().what();
  auto at = loaded->symbol("fixed_function");
  ASSERT_TRUE(at.has_value());
  const auto distance = static_cast<std::int64_t>(*at) - static_cast<std::int64_t>(near_here());
  EXPECT_LT(std::llabs(distance), std::int64_t{1} << 31) << "loaded out of rel32 reach of the module";
  auto fn = reinterpret_cast<int (*)(int)>(*at);
  program_counter = 5;
  EXPECT_EQ(fn(3), 2 * 8 + 11);  // counter 5 + 3, doubled by the program, plus the literal's length
  EXPECT_EQ(program_counter, 8);
}

TEST(ObjectLoader, RefusesThreadLocalData) {
  const std::string e = error_of(HP_OBJECT_THREAD_LOCAL, {".text.uses_thread_local"});
  EXPECT_NE(e.find("thread-local"), std::string::npos) << e;
}

TEST(ObjectLoader, RefusesPositionDependentCode) {
  const std::string e = error_of(HP_OBJECT_ABSOLUTE_ADDRESS, {".text.address_of_counter"});
  EXPECT_NE(e.find("R_X86_64_32"), std::string::npos) << e;
  EXPECT_NE(e.find("'program_counter'"), std::string::npos) << e;
  EXPECT_NE(e.find("build with -fPIE or -fPIC"), std::string::npos) << e;
}

TEST(ObjectLoader, RefusesASectionTheObjectDoesNotHave) {
  const std::string e = error_of(HP_OBJECT_REACHES_PROGRAM, {".text.no_such_function"});
  EXPECT_EQ(e, "patch 'test' v1: its object: has no section .text.no_such_function (the patch names it)");
}

TEST(ObjectLoader, ASymbolThatCannotBeFoundIsTheLookupsError) {
  auto nothing = [](const std::string& name, bool, const std::string&) -> hotpatch::Result<std::uintptr_t> {
    return hotpatch::make_error(hotpatch::ErrorCode::symbol_not_found, name, "is nowhere");
  };
  const std::string e = error_of(HP_OBJECT_REACHES_PROGRAM, {".text.fixed_function", ".rodata.fixed_function.str1.1"}, nothing);
  EXPECT_NE(e.find(": is nowhere"), std::string::npos) << e;
}

TEST(ObjectLoader, RefusesWhatIsNotARelocatableObject) {
  std::vector<std::uint8_t> junk(512, 0x41);
  auto r = load_object_near(junk, {".text"}, near_here(), lookup, "patch 'test' v1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "patch 'test' v1: its object: not an x86-64 relocatable object");
  std::vector<std::uint8_t> truncated = bytes_of(HP_OBJECT_REACHES_PROGRAM);
  truncated.resize(100);
  r = load_object_near(truncated, {".text"}, near_here(), lookup, "patch 'test' v1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("its object:"), std::string::npos) << r.error().what();
}

}  // namespace
