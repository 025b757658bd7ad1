// A patch object is checked before any of its code runs, and a loaded object is reused only for the
// very same bytes: malformed loader structures, manifests naming what the object does not export
// and modified copies that keep the build-id must neither crash the process nor run stale code.
#include "engine_test_support.hpp"
#include "targets.h"

#include <elf.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

using namespace hptest;
using hotpatch::ErrorCode;
using ::testing::HasSubstr;

namespace {

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Just enough of an ELF editor to corrupt one field of a real patch object.
class ElfBytes {
 public:
  explicit ElfBytes(std::vector<std::uint8_t> bytes) : b(std::move(bytes)) {}
  std::vector<std::uint8_t> b;

  Elf64_Ehdr* header() { return reinterpret_cast<Elf64_Ehdr*>(b.data()); }
  Elf64_Phdr* phdr(std::uint32_t type) {
    auto* ph = reinterpret_cast<Elf64_Phdr*>(b.data() + header()->e_phoff);
    for (int i = 0; i < header()->e_phnum; ++i)
      if (ph[i].p_type == type) return &ph[i];
    return nullptr;
  }
  std::size_t offset_of(std::uint64_t vaddr) {
    auto* ph = reinterpret_cast<Elf64_Phdr*>(b.data() + header()->e_phoff);
    for (int i = 0; i < header()->e_phnum; ++i)
      if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr && vaddr < ph[i].p_vaddr + ph[i].p_filesz)
        return ph[i].p_offset + (vaddr - ph[i].p_vaddr);
    ADD_FAILURE() << "address " << vaddr << " is not in the file";
    return 0;
  }
  Elf64_Dyn* dyn(std::int64_t tag) {
    auto* d = reinterpret_cast<Elf64_Dyn*>(b.data() + offset_of(phdr(PT_DYNAMIC)->p_vaddr));
    for (; d->d_tag != DT_NULL; ++d)
      if (d->d_tag == tag) return d;
    ADD_FAILURE() << "no dynamic tag " << tag;
    return d;
  }
  Elf64_Rela* first_rela() { return reinterpret_cast<Elf64_Rela*>(b.data() + offset_of(dyn(DT_RELA)->d_un.d_ptr)); }
  Elf64_Rela* last_rela() { return first_rela() + dyn(DT_RELASZ)->d_un.d_val / sizeof(Elf64_Rela) - 1; }
  std::uint32_t* gnu_hash() { return reinterpret_cast<std::uint32_t*>(b.data() + offset_of(dyn(DT_GNU_HASH)->d_un.d_ptr)); }
};

hotpatch::Result<hotpatch::AppliedPatch> apply_bytes(const std::vector<std::uint8_t>& bytes) {
  return hotpatch::apply_patch_image(bytes, "modified c_add_v1.so");
}

std::string refused_malformed(const std::vector<std::uint8_t>& bytes) {
  auto r = apply_bytes(bytes);
  EXPECT_FALSE(r.has_value()) << "the corrupted patch applied";
  if (r.has_value()) {
    (void)hotpatch::revert_patch(r->manifest.id);
    return {};
  }
  EXPECT_EQ(r.error().code, ErrorCode::malformed_patch) << r.error().what();
  return r.error().what();
}

// The code of c_add_fixed (lea eax, [rdi + 100]; ret); its immediate is the 100 the test changes.
std::size_t find_c_add_fixed(const std::vector<std::uint8_t>& b) {
  const std::uint8_t code[] = {0x8d, 0x47, 0x64, 0xc3};
  auto it = std::search(b.begin(), b.end(), std::begin(code), std::end(code));
  EXPECT_NE(it, b.end()) << "c_add_fixed not found in c_add_v1.so";
  return static_cast<std::size_t>(it - b.begin());
}

using PatchSecurityTest = EngineTest;

TEST_F(PatchSecurityTest, ModifiedCopyWithTheSameBuildIdRunsItsOwnBytes) {
  const auto original = read_bytes(patch_path("c_add_v1"));
  ASSERT_FALSE(original.empty());
  auto r = hotpatch::apply_patch_image(original, "c_add_v1.so");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");

  // Only code bytes change: the build-id note, manifest and every loader structure are the same.
  auto modified = original;
  modified[find_c_add_fixed(modified) + 2] = 0x65;  // x + 101
  r = apply_bytes(modified);
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_EQ(hp_c_add(1), 102) << "the modified copy was answered with the object loaded before";
  revert_ok("c-add");

  // The original bytes again: the object loaded first is reused and runs its own code.
  r = hotpatch::apply_patch_image(original, "c_add_v1.so");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("c-add");
  EXPECT_EQ(hp_c_add(1), 2);
}

TEST_F(PatchSecurityTest, ConstructorTraceIsVisibleWhenAPatchLoads) {
  ASSERT_EQ(std::getenv("HP_TRACE_CONSTRUCTOR_TRACE"), nullptr);
  apply_ok("constructor_trace");
  EXPECT_STREQ(std::getenv("HP_TRACE_CONSTRUCTOR_TRACE"), "ran");
  EXPECT_EQ(hp_c_add(1), 101);
  revert_ok("constructor_trace");
}

TEST_F(PatchSecurityTest, MissingReplacementIsRefusedBeforeAnyOfThePatchRuns) {
  const auto msg = apply_fails(patch_path("constructor_missing_replacement"), ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("hotpatch_replacement_nowhere: the patch does not export this replacement pointer"));
  EXPECT_EQ(std::getenv("HP_TRACE_MISSING_REPLACEMENT"), nullptr) << "the patch's constructor ran";
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

TEST_F(PatchSecurityTest, MissingImportIsRefusedBeforeAnyOfThePatchRuns) {
  const auto msg = apply_fails(patch_path("constructor_missing_import"), ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("hp_import_nowhere: the patch does not export this import variable"));
  EXPECT_EQ(std::getenv("HP_TRACE_MISSING_IMPORT"), nullptr) << "the patch's constructor ran";
  EXPECT_EQ(hp_c_add(1), 2);
}

TEST_F(PatchSecurityTest, HiddenReplacementPointerIsNotAnExport) {
  const auto msg = apply_fails(patch_path("hidden_replacement"), ErrorCode::malformed_patch);
  EXPECT_THAT(msg, HasSubstr("hotpatch_replacement_hidden: the patch does not export this replacement pointer"));
  EXPECT_EQ(std::getenv("HP_TRACE_HIDDEN_REPLACEMENT"), nullptr) << "the patch's constructor ran";
}

// Found by fuzzing: ld.so reads DT_JMPREL and DT_PLTRELSZ whenever DT_PLTREL is present, and
// dereferences a null entry for a missing one.
TEST_F(PatchSecurityTest, PltRelocationTagWithoutItsTableIsRefusedAndTheProcessLives) {
  ElfBytes elf(read_bytes(patch_path("c_add_v1")));
  Elf64_Dyn* d = elf.dyn(DT_PLTGOT);
  d->d_tag = DT_PLTREL;
  d->d_un.d_val = DT_RELA;
  EXPECT_THAT(refused_malformed(elf.b), HasSubstr("has only some of DT_JMPREL, DT_PLTREL and DT_PLTRELSZ"));
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

// Found by fuzzing: ld.so reads the program headers through the segment that holds them.
TEST_F(PatchSecurityTest, UnreadableLoadSegmentIsRefusedAndTheProcessLives) {
  ElfBytes elf(read_bytes(patch_path("c_add_v1")));
  elf.phdr(PT_LOAD)->p_flags = 0;
  EXPECT_THAT(refused_malformed(elf.b), HasSubstr("is not readable"));
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

TEST_F(PatchSecurityTest, RelaEntrySizeOf32IsRefusedAndTheProcessLives) {
  ElfBytes elf(read_bytes(patch_path("c_add_v1")));
  elf.dyn(DT_RELAENT)->d_un.d_val = 32;  // ld.so asserts on this and takes the process down
  EXPECT_THAT(refused_malformed(elf.b), HasSubstr("DT_RELAENT is 32, not 24"));
  EXPECT_EQ(hp_c_add(1), 2);
  EXPECT_TRUE(hotpatch::patch_table().empty());
}

// Where memfd_create is unavailable the patch is loaded from its file, only after that file's content
// was hashed again and found to be what was checked. Runs in a child process (seccomp is one-way).
TEST_F(PatchSecurityTest, WithoutMemfdOnlyTheCheckedFileContentIsLoaded) {
  const auto original = read_bytes(patch_path("c_add_v1"));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!hptest::deny_syscall(__NR_memfd_create, ENOSYS)) _exit(10);
    // Bytes whose name is no file holding them: nothing else may be loaded in their place.
    auto modified = original;
    modified[find_c_add_fixed(modified) + 2] = 0x65;
    auto r = hotpatch::apply_patch_image(modified, patch_path("c_add_v1"));
    if (r.has_value()) _exit(11);
    if (r.error().code != ErrorCode::load_failed) _exit(12);
    if (r.error().what().find("the file is not the content that was checked") == std::string::npos) _exit(13);
    if (r.error().what().find("memfd_create: Function not implemented") == std::string::npos) _exit(14);
    if (hp_c_add(1) != 2) _exit(15);
    // The file itself, unchanged since it was read: loaded from it.
    r = hotpatch::apply_patch_file(patch_path("c_add_v1"));
    if (!r.has_value()) _exit(16);
    if (hp_c_add(1) != 101) _exit(17);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 seccomp setup, 11 other bytes applied, 12-14 wrong error, 15 code changed, "
                                       "16 file refused, 17 file not applied";
}

// Found by fuzzing: ld.so asserts, aborting the whole process, when a version requirement names a
// library the object does not need.
TEST_F(PatchSecurityTest, VersionsOfALibraryTheObjectDoesNotNeedAreRefusedAndTheProcessLives) {
  ElfBytes elf(read_bytes(patch_path("constructor_trace")));  // needs libc.so.6, with versions
  auto* vn = reinterpret_cast<Elf64_Verneed*>(elf.b.data() + elf.offset_of(elf.dyn(DT_VERNEED)->d_un.d_ptr));
  // The tail of the first needed library's name ("ibc.so.6"; "ibasan.so.8" in a sanitizer build).
  vn->vn_file = static_cast<Elf64_Word>(elf.dyn(DT_NEEDED)->d_un.d_val + 1);
  const std::string tail(reinterpret_cast<const char*>(elf.b.data() + elf.offset_of(elf.dyn(DT_STRTAB)->d_un.d_ptr) +
                                                       vn->vn_file));
  ASSERT_TRUE(tail == "ibc.so.6" || tail.starts_with("ib")) << tail;
  EXPECT_THAT(refused_malformed(elf.b),
              HasSubstr("DT_VERNEED names versions of " + tail + ", which is not a DT_NEEDED library of the object"));
  EXPECT_EQ(hp_c_add(1), 2);
}

struct Corruption {
  const char* name;
  void (*apply)(ElfBytes&);
  const char* message;
};

class PatchCorruptionTest : public EngineTest, public ::testing::WithParamInterface<Corruption> {};

TEST_P(PatchCorruptionTest, IsRefusedBeforeLoading) {
  ElfBytes elf(read_bytes(patch_path("c_add_v1")));
  ASSERT_TRUE(apply_bytes(elf.b).has_value()) << "the unmodified patch must apply";
  revert_ok("c-add");
  GetParam().apply(elf);
  EXPECT_THAT(refused_malformed(elf.b), HasSubstr(GetParam().message));
  EXPECT_EQ(hp_c_add(1), 2);
}

const Corruption kCorruptions[] = {
    {"ProgramHeaderSize", [](ElfBytes& e) { e.header()->e_phentsize = 48; }, "e_phentsize is 48, not 56"},
    {"ElfVersion", [](ElfBytes& e) { e.header()->e_version = 2; }, "has ELF version 2, not 1"},
    {"Executable", [](ElfBytes& e) { e.header()->e_type = ET_EXEC; }, "is not a shared object (e_type is 2, not ET_DYN)"},
    {"SymbolEntrySize", [](ElfBytes& e) { e.dyn(DT_SYMENT)->d_un.d_val = 16; }, "DT_SYMENT is 16, not 24"},
    {"PltRelocationsAsRel",
     [](ElfBytes& e) {
       auto* d = e.dyn(DT_RELACOUNT);
       d->d_tag = DT_PLTREL;
       d->d_un.d_val = DT_REL;
     },
     "DT_PLTREL is 17, not DT_RELA (7)"},
    {"TextRelocations", [](ElfBytes& e) { e.dyn(DT_RELACOUNT)->d_tag = DT_TEXTREL; },
     "has DT_TEXTREL, which a patch must not use (text relocations make code writable)"},
    {"RelEntries", [](ElfBytes& e) { e.dyn(DT_RELACOUNT)->d_tag = DT_REL; }, "has DT_REL, which a patch must not use (x86-64 uses RELA)"},
    {"RelocationSizeNotMultiple", [](ElfBytes& e) { e.dyn(DT_RELASZ)->d_un.d_val += 8; }, "DT_RELA size 200 is not a multiple of 24"},
    {"RelocationType", [](ElfBytes& e) { e.last_rela()->r_info = ELF64_R_INFO(1, R_X86_64_COPY); },
     "DT_RELA relocation 7 has type 5, which a -fPIC patch does not use"},
    // Found by fuzzing: ld.so asserts that every entry DT_RELACOUNT covers is RELATIVE, NONE included.
    {"RelativeCountCoversNone", [](ElfBytes& e) { e.first_rela()->r_info = ELF64_R_INFO(0, R_X86_64_NONE); },
     "DT_RELA relocation 0 is counted by DT_RELACOUNT but is not R_X86_64_RELATIVE"},
    {"RelocationIntoCode", [](ElfBytes& e) { e.first_rela()->r_offset = 0x1100; },
     "DT_RELA relocation 0 writes at 0x1100, outside the writable PT_LOAD segments"},
    {"RelocationSymbolOutOfRange",
     [](ElfBytes& e) { e.first_rela()->r_info = ELF64_R_INFO(5000, R_X86_64_RELATIVE); },
     "refer to 5001 dynamic symbols, more than the file holds"},
    {"StringTableOutsideFile", [](ElfBytes& e) { e.dyn(DT_STRSZ)->d_un.d_val = 1u << 30; },
     "string table (DT_STRTAB 0x318, DT_STRSZ 1073741824) is not inside the file part of a PT_LOAD segment"},
    {"SymbolTableOutsideSegments", [](ElfBytes& e) { e.dyn(DT_SYMTAB)->d_un.d_ptr = 0x7fff0000; }, "symbol table (DT_SYMTAB 0x7fff0000"},
    {"GnuHashWithoutBuckets", [](ElfBytes& e) { e.gnu_hash()[0] = 0; }, "DT_GNU_HASH has no buckets"},
    {"GnuHashBloomSize", [](ElfBytes& e) { e.gnu_hash()[2] = 3; }, "DT_GNU_HASH bloom filter size 3 is not a power of two"},
    {"InitOutsideCode", [](ElfBytes& e) { e.dyn(DT_INIT)->d_un.d_ptr = 0x3e60; }, "DT_INIT 0x3e60 is not inside an executable PT_LOAD segment"},
    {"ExecutableStack", [](ElfBytes& e) { e.phdr(PT_GNU_STACK)->p_flags |= PF_X; }, "asks for an executable stack"},
    {"SegmentLargerOnDiskThanInMemory",
     [](ElfBytes& e) {
       auto* ph = e.phdr(PT_LOAD);
       ph->p_filesz = ph->p_memsz + 1;
     },
     "has file size"},
    {"WritableCode",
     [](ElfBytes& e) {
       auto* ph = e.phdr(PT_LOAD);
       while (!(ph->p_flags & PF_X)) ++ph;
       ph->p_flags |= PF_W;
     },
     "is both writable and executable"},
    {"TwoDynamicSegments", [](ElfBytes& e) { e.phdr(PT_GNU_STACK)->p_type = PT_DYNAMIC; }, "has 2 PT_DYNAMIC segments, not 1"},
    {"NoDynamicTerminator",
     [](ElfBytes& e) {
       auto* ph = e.phdr(PT_DYNAMIC);
       auto* d = reinterpret_cast<Elf64_Dyn*>(e.b.data() + e.offset_of(ph->p_vaddr));
       std::size_t i = 0;
       while (d[i].d_tag != DT_NULL) ++i;
       ph->p_filesz = i * sizeof(Elf64_Dyn);  // the terminator falls outside the segment
     },
     "dynamic section has no DT_NULL terminator"},
};

INSTANTIATE_TEST_SUITE_P(Corruptions, PatchCorruptionTest, ::testing::ValuesIn(kCorruptions),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
