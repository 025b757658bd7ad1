// The linker inside the runtime for patches made from a diff: an object's code loaded next to a
// module reaches the program's variables and functions, and every refusal names its reason.
#include "engine/object_loader.hpp"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

extern "C" {
int program_counter = 0;
__attribute__((noinline, used)) int program_twice(int x) { return 2 * x; }
__attribute__((noinline, used)) int program_length(const char* s) { return static_cast<int>(std::strlen(s)); }
__attribute__((noinline, used)) int program_throws(int x) {
  if (x < 0) throw std::runtime_error("negative");
  return x;
}
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
  if (name == "program_throws") return reinterpret_cast<std::uintptr_t>(&program_throws);
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

// The C++ runtime's symbols (the personality routine, _Unwind_Resume, type_info) come from the
// libraries loaded, as the runtime's own lookup finds them.
hotpatch::Result<std::uintptr_t> lookup_with_libraries(const std::string& name, bool local, const std::string& unit) {
  if (auto at = lookup(name, local, unit)) return at;
  if (void* p = dlsym(RTLD_DEFAULT, name.c_str())) return reinterpret_cast<std::uintptr_t>(p);
  return hotpatch::make_error(hotpatch::ErrorCode::symbol_not_found, name, "not loaded");
}

// What make-patch carries for the two functions: code, cold parts, LSDAs and the DW.ref cells.
const std::vector<std::string> kThrowingFunctions{
    ".text.passes_through", ".text.unlikely.passes_through", ".gcc_except_table.passes_through",
    ".text.catches_itself", ".text.unlikely.catches_itself", ".gcc_except_table.catches_itself",
    ".data.rel.local.DW.ref.__gxx_personality_v0", ".data.rel.local.DW.ref._ZTISt13runtime_error"};

TEST(ObjectLoader, AnExceptionPassesThroughLoadedCode) {
  auto bytes = bytes_of(HP_OBJECT_PASSES_EXCEPTION);
  ASSERT_FALSE(bytes.empty());
  auto loaded = load_object_near(bytes, kThrowingFunctions, near_here(), lookup_with_libraries, "patch 'test' v1");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->unwind().functions, 4u) << "two functions, each with a cold part";
  EXPECT_EQ(loaded->unwind().left_out, 0u);
  EXPECT_FALSE(loaded->unwind().no_unwinder);
  auto passes = reinterpret_cast<int (*)(int)>(*loaded->symbol("passes_through"));
  auto catches = reinterpret_cast<int (*)(int)>(*loaded->symbol("catches_itself"));

  program_counter = 0;
  EXPECT_EQ(passes(4), 5);
  bool caught = false;
  try {
    passes(-1);
  } catch (const std::runtime_error& e) {
    caught = std::string(e.what()) == "negative";
  }
  EXPECT_TRUE(caught);
  EXPECT_EQ(program_counter, 2) << "the loaded function's cleanup ran on the way out too";
  EXPECT_EQ(catches(-1), -1);
  EXPECT_EQ(catches(7), 7);
  loaded->unload();
}

// A patch that does not carry a function's LSDA (made before make-patch carried them) still
// loads; that function's record is left out rather than registered without its cleanups.
TEST(ObjectLoader, ARecordWhoseLsdaIsNotCarriedIsLeftOut) {
  auto bytes = bytes_of(HP_OBJECT_PASSES_EXCEPTION);
  auto loaded = load_object_near(bytes, {".text.passes_through", ".text.unlikely.passes_through"}, near_here(),
                                 lookup_with_libraries, "patch 'test' v1");
  ASSERT_TRUE(loaded) << loaded.error().what();
  EXPECT_EQ(loaded->unwind().functions, 0u);
  EXPECT_EQ(loaded->unwind().left_out, 2u);
  loaded->unload();
}

// Where a section's bytes start in the object.
std::size_t section_offset(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  Elf64_Shdr names;
  std::memcpy(&names, bytes.data() + eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof names);
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr s;
    std::memcpy(&s, bytes.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof s);
    if (name == reinterpret_cast<const char*>(bytes.data() + names.sh_offset + s.sh_name)) return s.sh_offset;
  }
  return 0;
}

std::string refusal_of_frames(std::size_t at, std::vector<std::uint8_t> patch) {
  auto bytes = bytes_of(HP_OBJECT_PASSES_EXCEPTION);
  const std::size_t eh_frame = section_offset(bytes, ".eh_frame");
  if (eh_frame == 0) return "no .eh_frame";
  std::memcpy(bytes.data() + eh_frame + at, patch.data(), patch.size());
  auto r = load_object_near(bytes, kThrowingFunctions, near_here(), lookup_with_libraries, "patch 'test' v1");
  return r ? std::string("loaded") : std::string(hotpatch::error_code_name(r.error().code)) + " " + r.error().what();
}

TEST(ObjectLoader, RefusesMalformedFrameRecords) {
  const std::string prefix = "malformed_patch patch 'test' v1: its object: .eh_frame: ";
  // The CIE, at offset 0: length, id, version, augmentation "zPLR", ...
  EXPECT_EQ(refusal_of_frames(0, {0xf0, 0xff, 0xff, 0x0f}),
            prefix + "the record at offset 0x0 has length 268435440, which the section cannot hold");
  EXPECT_EQ(refusal_of_frames(0, {0xff, 0xff, 0xff, 0xff}),
            prefix + "the record at offset 0x0 has a 64-bit length, which is not supported");
  EXPECT_EQ(refusal_of_frames(10, {'X'}), prefix + "the CIE at offset 0x0 has augmentation \"zXLR\", which is not understood");
  EXPECT_EQ(refusal_of_frames(8, {7}), prefix + "the CIE at offset 0x0 has a version other than 1 or 3");
  // The first FDE, right after the 0x1c-byte CIE: its CIE pointer.
  EXPECT_EQ(refusal_of_frames(0x24, {0x00, 0x10, 0x00, 0x00}),
            prefix + "the FDE at offset 0x20 has a CIE pointer before the start of the section");
  EXPECT_EQ(refusal_of_frames(0x24, {0x20, 0x00, 0x00, 0x00}),
            prefix + "the FDE at offset 0x20 has a CIE pointer that names no CIE before it");
}

}  // namespace
