// Every check mirrors something ld.so reads while mapping and relocating an object (elf/dl-load.c,
// elf/get-dynamic-info.h, elf/do-rel.h, elf/dl-version.c); where it would assert, fault, loop or write
// outside the object, the patch is refused here first. Anything a normal `-fPIC` shared object built
// by gcc and GNU ld does not use is refused rather than understood.
#include "image/loadable_elf.hpp"
#include "support/hex.hpp"

#include <elf.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

namespace hotpatch::image {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kMaxAlign = 1u << 21;
constexpr std::uint64_t kMaxSpan = 1ull << 32;  // address space one patch may reserve
constexpr std::size_t kMaxPhnum = 64;
constexpr std::size_t kMaxVersionRecords = 4096;

std::string dec(std::uint64_t v) { return std::to_string(v); }

bool fits(std::uint64_t at, std::uint64_t size, std::uint64_t begin, std::uint64_t length) {
  return at >= begin && at - begin <= length && size <= length - (at - begin);
}

const std::map<std::int64_t, const char*>& allowed_tags() {
  static const std::map<std::int64_t, const char*> tags = {
      {DT_NEEDED, "DT_NEEDED"},     {DT_PLTRELSZ, "DT_PLTRELSZ"},   {DT_PLTGOT, "DT_PLTGOT"},
      {DT_HASH, "DT_HASH"},         {DT_STRTAB, "DT_STRTAB"},       {DT_SYMTAB, "DT_SYMTAB"},
      {DT_RELA, "DT_RELA"},         {DT_RELASZ, "DT_RELASZ"},       {DT_RELAENT, "DT_RELAENT"},
      {DT_STRSZ, "DT_STRSZ"},       {DT_SYMENT, "DT_SYMENT"},       {DT_INIT, "DT_INIT"},
      {DT_FINI, "DT_FINI"},         {DT_SONAME, "DT_SONAME"},       {DT_RPATH, "DT_RPATH"},
      {DT_SYMBOLIC, "DT_SYMBOLIC"}, {DT_PLTREL, "DT_PLTREL"},       {DT_DEBUG, "DT_DEBUG"},
      {DT_JMPREL, "DT_JMPREL"},     {DT_BIND_NOW, "DT_BIND_NOW"},   {DT_INIT_ARRAY, "DT_INIT_ARRAY"},
      {DT_FINI_ARRAY, "DT_FINI_ARRAY"}, {DT_INIT_ARRAYSZ, "DT_INIT_ARRAYSZ"},
      {DT_FINI_ARRAYSZ, "DT_FINI_ARRAYSZ"}, {DT_RUNPATH, "DT_RUNPATH"}, {DT_FLAGS, "DT_FLAGS"},
      {DT_GNU_HASH, "DT_GNU_HASH"}, {DT_VERSYM, "DT_VERSYM"},       {DT_RELACOUNT, "DT_RELACOUNT"},
      {DT_FLAGS_1, "DT_FLAGS_1"},   {DT_VERDEF, "DT_VERDEF"},       {DT_VERDEFNUM, "DT_VERDEFNUM"},
      {DT_VERNEED, "DT_VERNEED"},   {DT_VERNEEDNUM, "DT_VERNEEDNUM"},
  };
  return tags;
}

std::string tag_name(std::int64_t tag) {
  switch (tag) {
    case DT_REL: return "DT_REL";
    case DT_RELSZ: return "DT_RELSZ";
    case DT_RELENT: return "DT_RELENT";
    case DT_TEXTREL: return "DT_TEXTREL";
    case DT_PREINIT_ARRAY: return "DT_PREINIT_ARRAY";
    case DT_FILTER: return "DT_FILTER";
    case DT_AUXILIARY: return "DT_AUXILIARY";
    case DT_AUDIT: return "DT_AUDIT";
    case DT_DEPAUDIT: return "DT_DEPAUDIT";
    default: break;
  }
  auto it = allowed_tags().find(tag);
  return it != allowed_tags().end() ? it->second : "dynamic tag " + hex(static_cast<std::uint64_t>(tag));
}

// Relocation types a -fPIC object uses on x86-64, with the bytes each writes. IRELATIVE (and
// IFUNC symbols) are left out on purpose: their resolvers run in the middle of relocation.
std::uint64_t relocation_width(std::uint32_t type) {
  switch (type) {
    case R_X86_64_64:
    case R_X86_64_GLOB_DAT:
    case R_X86_64_JUMP_SLOT:
    case R_X86_64_RELATIVE:
    case R_X86_64_DTPMOD64:
    case R_X86_64_DTPOFF64:
    case R_X86_64_TPOFF64: return 8;
    case R_X86_64_PC32: return 4;
    default: return 0;
  }
}

bool is_tls_relocation(std::uint32_t type) {
  return type == R_X86_64_DTPMOD64 || type == R_X86_64_DTPOFF64 || type == R_X86_64_TPOFF64;
}

}  // namespace

class LoadableElfChecker {
 public:
  LoadableElfChecker(std::span<const std::uint8_t> bytes, const std::string& name) : name_(name) { elf_.bytes_ = bytes; }

  Result<LoadableElf> run() {
    HOTPATCH_TRY(header());
    HOTPATCH_TRY(program_headers());
    HOTPATCH_TRY(dynamic_entries());
    HOTPATCH_TRY(string_and_symbol_tables());
    HOTPATCH_TRY(versions());
    HOTPATCH_TRY(relocations());
    HOTPATCH_TRY(constructors());
    return std::move(elf_);
  }

 private:
  Error fail(const std::string& sentence) const { return make_error(ErrorCode::malformed_patch, name_, sentence); }

  template <class T>
  bool read_file(std::uint64_t offset, T& out) const {
    const auto& b = elf_.bytes_;
    if (!fits(offset, sizeof(T), 0, b.size())) return false;
    std::memcpy(&out, b.data() + offset, sizeof(T));
    return true;
  }
  template <class T>
  bool read_vaddr(std::uint64_t vaddr, T& out) const {
    const std::uint8_t* p = elf_.file_bytes(vaddr, sizeof(T));
    if (p == nullptr) return false;
    std::memcpy(&out, p, sizeof(T));
    return true;
  }

  Status header() {
    if (elf_.bytes_.size() < sizeof(Elf64_Ehdr)) return fail("is too short for an ELF header");
    read_file(0, eh_);
    if (std::memcmp(eh_.e_ident, ELFMAG, SELFMAG) != 0) return fail("has no ELF magic number");
    if (eh_.e_ident[EI_CLASS] != ELFCLASS64) return fail("is not a 64-bit ELF file");
    if (eh_.e_ident[EI_DATA] != ELFDATA2LSB) return fail("is not a little-endian ELF file");
    if (eh_.e_ident[EI_VERSION] != EV_CURRENT || eh_.e_version != EV_CURRENT)
      return fail("has ELF version " + dec(eh_.e_version) + ", not 1");
    if (eh_.e_type != ET_DYN) return fail("is not a shared object (e_type is " + dec(eh_.e_type) + ", not ET_DYN)");
    if (eh_.e_machine != EM_X86_64) return fail("is not for x86-64 (e_machine is " + dec(eh_.e_machine) + ")");
    if (eh_.e_phentsize != sizeof(Elf64_Phdr))
      return fail("e_phentsize is " + dec(eh_.e_phentsize) + ", not " + dec(sizeof(Elf64_Phdr)));
    if (eh_.e_phnum == 0 || eh_.e_phnum > kMaxPhnum)
      return fail("has " + dec(eh_.e_phnum) + " program headers (1 to " + dec(kMaxPhnum) + " expected)");
    if (eh_.e_phoff % 8 != 0 || !fits(eh_.e_phoff, std::uint64_t{eh_.e_phnum} * sizeof(Elf64_Phdr), 0, elf_.bytes_.size()))
      return fail("program header table at " + hex(eh_.e_phoff) + " is not inside the file");
    return {};
  }

  Status program_headers() {
    int dynamic = 0, tls = 0, relro = 0;
    for (std::size_t i = 0; i < eh_.e_phnum; ++i) {
      Elf64_Phdr ph{};
      read_file(eh_.e_phoff + i * sizeof ph, ph);
      phdrs_.push_back(ph);
      const std::string which = "program header " + dec(i);
      switch (ph.p_type) {
        case PT_LOAD: HOTPATCH_TRY(load_segment(ph, which)); break;
        case PT_DYNAMIC: ++dynamic; break;
        case PT_TLS: ++tls; break;
        case PT_GNU_RELRO: ++relro; break;
        case PT_GNU_STACK:
          if (ph.p_flags & PF_X) return fail("asks for an executable stack (PT_GNU_STACK has PF_X)");
          break;
        case PT_NULL: case PT_NOTE: case PT_PHDR: case PT_INTERP: case PT_GNU_EH_FRAME: case PT_GNU_PROPERTY: break;
        default: return fail(which + " has type " + hex(ph.p_type) + ", which a patch does not use");
      }
    }
    if (elf_.loads_.empty()) return fail("has no PT_LOAD segment");
    if (dynamic != 1) return fail("has " + dec(dynamic) + " PT_DYNAMIC segments, not 1");
    if (tls > 1) return fail("has " + dec(tls) + " PT_TLS segments");
    if (relro > 1) return fail("has " + dec(relro) + " PT_GNU_RELRO segments");
    // ld.so reads these from the mapped image, so they must lie inside what it maps.
    for (std::size_t i = 0; i < phdrs_.size(); ++i) {
      const auto& ph = phdrs_[i];
      const std::string which = "program header " + dec(i);
      if (ph.p_type == PT_DYNAMIC) {
        if (ph.p_filesz == 0 || ph.p_filesz % sizeof(Elf64_Dyn) != 0 || ph.p_memsz < ph.p_filesz)
          return fail("PT_DYNAMIC has size " + dec(ph.p_filesz) + ", not a non-zero multiple of 16");
        if (elf_.file_bytes(ph.p_vaddr, ph.p_filesz) == nullptr)
          return fail("PT_DYNAMIC at " + hex(ph.p_vaddr) + " is not inside the file part of a PT_LOAD segment");
        dynamic_ = ph;
      } else if (ph.p_type == PT_NOTE || ph.p_type == PT_GNU_PROPERTY) {
        if (elf_.file_bytes(ph.p_vaddr, ph.p_memsz) == nullptr)
          return fail(which + " (notes) is not inside the file part of a PT_LOAD segment");
      } else if (ph.p_type == PT_PHDR) {
        const std::uint64_t size = std::uint64_t{eh_.e_phnum} * sizeof(Elf64_Phdr);
        const std::uint8_t* p = elf_.file_bytes(ph.p_vaddr, size);
        if (ph.p_memsz != size || p == nullptr || std::memcmp(p, elf_.bytes_.data() + eh_.e_phoff, size) != 0)
          return fail("PT_PHDR does not map the program header table");
      } else if (ph.p_type == PT_GNU_EH_FRAME) {
        if (elf_.segment_of(ph.p_vaddr, ph.p_memsz) == nullptr)
          return fail("PT_GNU_EH_FRAME is not inside a PT_LOAD segment");
      } else if (ph.p_type == PT_GNU_RELRO) {
        const LoadSegment* seg = elf_.segment_of(ph.p_vaddr, ph.p_memsz);
        if (seg == nullptr || !(seg->flags & PF_W)) return fail("PT_GNU_RELRO is not inside a writable PT_LOAD segment");
        elf_.relro_begin_ = ph.p_vaddr;
        elf_.relro_end_ = ph.p_vaddr + ph.p_memsz;
      } else if (ph.p_type == PT_TLS) {
        if (ph.p_filesz > ph.p_memsz || ph.p_memsz > (1u << 20))
          return fail("PT_TLS has file size " + dec(ph.p_filesz) + " and memory size " + dec(ph.p_memsz));
        if (ph.p_align > kPage || (ph.p_align != 0 && !std::has_single_bit(ph.p_align)))
          return fail("PT_TLS alignment " + dec(ph.p_align) + " is not a power of two up to 4096");
        if (elf_.segment_of(ph.p_vaddr, ph.p_memsz) == nullptr || elf_.file_bytes(ph.p_vaddr, ph.p_filesz) == nullptr)
          return fail("PT_TLS is not inside a PT_LOAD segment");
        has_tls_ = true;
      }
    }
    return {};
  }

  Status load_segment(const Elf64_Phdr& ph, const std::string& which) {
    const std::string seg = which + " (PT_LOAD at " + hex(ph.p_vaddr) + ")";
    if (ph.p_align < kPage || ph.p_align > kMaxAlign || !std::has_single_bit(ph.p_align))
      return fail(seg + " has alignment " + hex(ph.p_align) + ", not a power of two from 4 KiB to 2 MiB");
    if ((ph.p_vaddr - ph.p_offset) % ph.p_align != 0) return fail(seg + " has address and file offset not congruent modulo its alignment");
    if (ph.p_filesz > ph.p_memsz) return fail(seg + " has file size " + dec(ph.p_filesz) + " above its memory size " + dec(ph.p_memsz));
    if (ph.p_memsz == 0) return fail(seg + " is empty");
    if (!fits(ph.p_offset, ph.p_filesz, 0, elf_.bytes_.size())) return fail(seg + " extends past the end of the file");
    if (!fits(ph.p_vaddr, ph.p_memsz, 0, kMaxSpan)) return fail(seg + " lies outside the first 4 GiB of the object's address space");
    if ((ph.p_flags & PF_W) && (ph.p_flags & PF_X)) return fail(seg + " is both writable and executable");
    // ld.so reads the program headers and dynamic tables from the loaded segments themselves.
    if (!(ph.p_flags & PF_R)) return fail(seg + " is not readable");
    if (!elf_.loads_.empty()) {
      const auto& prev = elf_.loads_.back();
      const std::uint64_t prev_end = (prev.vaddr + prev.memsz + kPage - 1) & ~(kPage - 1);
      if ((ph.p_vaddr & ~(kPage - 1)) < prev_end) return fail(seg + " overlaps or precedes the PT_LOAD segment before it");
    }
    elf_.loads_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags});
    return {};
  }

  Status dynamic_entries() {
    const std::size_t count = dynamic_.p_filesz / sizeof(Elf64_Dyn);
    bool terminated = false;
    for (std::size_t i = 0; i < count; ++i) {
      Elf64_Dyn d{};
      read_vaddr(dynamic_.p_vaddr + i * sizeof d, d);
      if (d.d_tag == DT_NULL) {
        terminated = true;
        break;
      }
      if (!allowed_tags().contains(d.d_tag))
        return fail("has " + tag_name(d.d_tag) + ", which a patch must not use" +
                    (d.d_tag == DT_REL || d.d_tag == DT_RELSZ || d.d_tag == DT_RELENT ? " (x86-64 uses RELA)"
                     : d.d_tag == DT_TEXTREL ? " (text relocations make code writable)" : ""));
      if (d.d_tag == DT_NEEDED) {
        needed_.push_back(d.d_un.d_val);
        continue;
      }
      // ld.so keeps the last of repeated entries; refusing repeats keeps this reading the same as its.
      if (!tags_.emplace(d.d_tag, d.d_un.d_val).second) return fail("has " + tag_name(d.d_tag) + " twice");
    }
    if (!terminated) return fail("dynamic section has no DT_NULL terminator");

    auto has = [&](std::int64_t t) { return tags_.contains(t); };
    auto val = [&](std::int64_t t) { return tags_.at(t); };
    if (has(DT_FLAGS) && (val(DT_FLAGS) & DF_TEXTREL)) return fail("has DF_TEXTREL (text relocations make code writable)");
    for (auto t : {DT_SYMTAB, DT_STRTAB, DT_STRSZ, DT_SYMENT})
      if (!has(t)) return fail("has no " + tag_name(t));
    if (val(DT_SYMENT) != sizeof(Elf64_Sym)) return fail("DT_SYMENT is " + dec(val(DT_SYMENT)) + ", not 24");
    if (!has(DT_HASH) && !has(DT_GNU_HASH)) return fail("has neither DT_HASH nor DT_GNU_HASH");
    if (has(DT_RELAENT) && val(DT_RELAENT) != sizeof(Elf64_Rela)) return fail("DT_RELAENT is " + dec(val(DT_RELAENT)) + ", not 24");
    if (has(DT_RELA) != has(DT_RELASZ)) return fail("has only one of DT_RELA and DT_RELASZ");
    if (has(DT_RELA) && !has(DT_RELAENT)) return fail("has DT_RELA without DT_RELAENT");
    if (has(DT_PLTREL) && val(DT_PLTREL) != DT_RELA) return fail("DT_PLTREL is " + dec(val(DT_PLTREL)) + ", not DT_RELA (7)");
    // ld.so reads all three (and the GOT for lazy binding) as soon as one of them is present.
    if ((has(DT_JMPREL) || has(DT_PLTREL) || has(DT_PLTRELSZ)) && !(has(DT_JMPREL) && has(DT_PLTREL) && has(DT_PLTRELSZ)))
      return fail("has only some of DT_JMPREL, DT_PLTREL and DT_PLTRELSZ");
    if (has(DT_JMPREL) && !has(DT_PLTGOT)) return fail("has DT_JMPREL without DT_PLTGOT");
    if (has(DT_RELACOUNT) && !has(DT_RELA)) return fail("has DT_RELACOUNT without DT_RELA");
    if (has(DT_INIT_ARRAY) != has(DT_INIT_ARRAYSZ)) return fail("has only one of DT_INIT_ARRAY and DT_INIT_ARRAYSZ");
    if (has(DT_FINI_ARRAY) != has(DT_FINI_ARRAYSZ)) return fail("has only one of DT_FINI_ARRAY and DT_FINI_ARRAYSZ");
    if (has(DT_VERNEED) != has(DT_VERNEEDNUM)) return fail("has only one of DT_VERNEED and DT_VERNEEDNUM");
    if (has(DT_VERDEF) != has(DT_VERDEFNUM)) return fail("has only one of DT_VERDEF and DT_VERDEFNUM");
    if (has(DT_PLTGOT)) {
      const LoadSegment* seg = elf_.segment_of(val(DT_PLTGOT), 3 * 8);
      if (seg == nullptr || !(seg->flags & PF_W)) return fail("DT_PLTGOT " + hex(val(DT_PLTGOT)) + " is not inside a writable PT_LOAD segment");
    }
    for (auto t : {DT_INIT, DT_FINI}) {
      if (!has(t)) continue;
      const LoadSegment* seg = elf_.segment_of(val(t), 1);
      if (seg == nullptr || !(seg->flags & PF_X)) return fail(tag_name(t) + " " + hex(val(t)) + " is not inside an executable PT_LOAD segment");
    }
    elf_.symtab_ = val(DT_SYMTAB);
    elf_.strtab_ = val(DT_STRTAB);
    elf_.strsz_ = val(DT_STRSZ);
    elf_.hash_ = has(DT_HASH) ? val(DT_HASH) : 0;
    elf_.gnu_hash_ = has(DT_GNU_HASH) ? val(DT_GNU_HASH) : 0;
    elf_.versym_ = has(DT_VERSYM) ? val(DT_VERSYM) : 0;
    if (elf_.strsz_ == 0 || elf_.file_bytes(elf_.strtab_, elf_.strsz_) == nullptr)
      return fail("string table (DT_STRTAB " + hex(elf_.strtab_) + ", DT_STRSZ " + dec(elf_.strsz_) + ") is not inside the file part of a PT_LOAD segment");
    if ((has(DT_HASH) && elf_.hash_ == 0) || (has(DT_GNU_HASH) && elf_.gnu_hash_ == 0) || (has(DT_VERSYM) && elf_.versym_ == 0))
      return fail("has a symbol hash or version table at address 0");
    return {};
  }

  bool string_ok(std::uint64_t offset) const {
    if (offset >= elf_.strsz_) return false;
    const auto* p = elf_.file_bytes(elf_.strtab_, elf_.strsz_);
    return std::memchr(p + offset, 0, elf_.strsz_ - offset) != nullptr;
  }

  // Only after string_ok(offset).
  std::string_view string_at(std::uint64_t offset) const {
    return reinterpret_cast<const char*>(elf_.file_bytes(elf_.strtab_, elf_.strsz_)) + offset;
  }

  Status sysv_hash_count(std::uint64_t& count) {
    std::uint32_t head[2]{};
    if (!read_vaddr(elf_.hash_, head)) return fail("DT_HASH " + hex(elf_.hash_) + " is not inside the file part of a PT_LOAD segment");
    const std::uint64_t nbucket = head[0], nchain = head[1];
    if (nbucket == 0) return fail("DT_HASH has no buckets");
    const std::uint8_t* p = elf_.file_bytes(elf_.hash_, 8 + 4 * (nbucket + nchain));
    if (p == nullptr) return fail("DT_HASH table is not inside the file part of a PT_LOAD segment");
    auto word = [&](std::uint64_t i) {
      std::uint32_t w;
      std::memcpy(&w, p + 8 + 4 * i, 4);
      return std::uint64_t{w};
    };
    // ld.so follows a chain until index 0: a cycle would hang every lookup.
    std::vector<std::uint8_t> state(nchain, 0);  // 0 unseen, 1 on this walk, 2 known to end
    for (std::uint64_t b = 0; b < nbucket; ++b) {
      std::vector<std::uint64_t> walk;
      for (std::uint64_t i = word(b); i != 0; i = word(nbucket + i)) {
        if (i >= nchain) return fail("DT_HASH refers to symbol " + dec(i) + " of " + dec(nchain));
        if (state[i] == 2) break;
        if (state[i] == 1) return fail("DT_HASH has a cycle in its chains");
        state[i] = 1;
        walk.push_back(i);
      }
      for (auto i : walk) state[i] = 2;
    }
    count = nchain;
    return {};
  }

  Status gnu_hash_count(std::uint64_t& count) {
    std::uint32_t head[4]{};
    if (!read_vaddr(elf_.gnu_hash_, head)) return fail("DT_GNU_HASH " + hex(elf_.gnu_hash_) + " is not inside the file part of a PT_LOAD segment");
    const std::uint64_t nbuckets = head[0], symoffset = head[1], bloom = head[2], shift = head[3];
    if (nbuckets == 0) return fail("DT_GNU_HASH has no buckets");
    if (bloom == 0 || !std::has_single_bit(bloom)) return fail("DT_GNU_HASH bloom filter size " + dec(bloom) + " is not a power of two");
    if (shift >= 32) return fail("DT_GNU_HASH bloom shift " + dec(shift) + " is not below 32");
    const std::uint64_t buckets_at = elf_.gnu_hash_ + 16 + 8 * bloom;
    const std::uint8_t* buckets = elf_.file_bytes(buckets_at, 4 * nbuckets);
    if (buckets == nullptr) return fail("DT_GNU_HASH table is not inside the file part of a PT_LOAD segment");
    const std::uint64_t chain_at = buckets_at + 4 * nbuckets;
    count = symoffset;
    for (std::uint64_t b = 0; b < nbuckets; ++b) {
      std::uint32_t first = 0;
      std::memcpy(&first, buckets + 4 * b, 4);
      if (first == 0) continue;
      if (first < symoffset) return fail("DT_GNU_HASH bucket " + dec(b) + " starts at symbol " + dec(first) + ", below its first hashed symbol " + dec(symoffset));
      for (std::uint64_t i = first;; ++i) {
        std::uint32_t h = 0;
        if (!read_vaddr(chain_at + 4 * (i - symoffset), h)) return fail("DT_GNU_HASH chain for symbol " + dec(i) + " is outside the object");
        count = std::max(count, i + 1);
        if (h & 1) break;
      }
    }
    return {};
  }

  Status string_and_symbol_tables() {
    std::uint64_t count = 0;
    if (elf_.hash_ != 0) HOTPATCH_TRY(sysv_hash_count(count));
    if (elf_.gnu_hash_ != 0) {
      std::uint64_t gnu = 0;
      HOTPATCH_TRY(gnu_hash_count(gnu));
      count = std::max(count, gnu);
    }
    // A GNU hash table does not count the unhashed (undefined) symbols before its first hashed one;
    // ld.so reaches those only through relocations, so the relocations extend the count.
    HOTPATCH_TRY(for_each_relocation([&](const Elf64_Rela& r, std::uint64_t, const char*) {
      count = std::max<std::uint64_t>(count, ELF64_R_SYM(r.r_info) + 1);
      return Status{};
    }));
    if (count > elf_.bytes_.size() / sizeof(Elf64_Sym)) return fail("its hash table and relocations refer to " + dec(count) + " dynamic symbols, more than the file holds");
    elf_.nsyms_ = count;
    if (elf_.file_bytes(elf_.symtab_, count * sizeof(Elf64_Sym)) == nullptr)
      return fail("symbol table (DT_SYMTAB " + hex(elf_.symtab_) + ", " + dec(count) + " symbols) is not inside the file part of a PT_LOAD segment");
    for (std::uint64_t i = 1; i < count; ++i) {
      Elf64_Sym s{};
      read_vaddr(elf_.symtab_ + i * sizeof s, s);
      if (!string_ok(s.st_name)) return fail("symbol " + dec(i) + " has its name outside the string table");
      const unsigned type = ELF64_ST_TYPE(s.st_info);
      if (s.st_shndx != SHN_UNDEF && type == STT_GNU_IFUNC)
        return fail("defines the IFUNC symbol " + std::string(elf_.symbol(i).name) + " (its resolver would run during relocation)");
      if (s.st_shndx != SHN_UNDEF && type == STT_TLS && !has_tls_)
        return fail("defines the thread-local symbol " + elf_.symbol(i).name + " but has no PT_TLS segment");
    }
    for (auto offset : needed_)
      if (!string_ok(offset)) return fail("DT_NEEDED names a string outside the string table");
    for (auto t : {DT_SONAME, DT_RPATH, DT_RUNPATH})
      if (tags_.contains(t) && !string_ok(tags_.at(t))) return fail(tag_name(t) + " names a string outside the string table");
    return {};
  }

  Status versions() {
    std::set<std::uint64_t> indices = {0, 1};  // local and global need no record
    if (tags_.contains(DT_VERNEED)) {
      std::uint64_t at = tags_.at(DT_VERNEED);
      for (std::size_t n = 0;; ++n) {
        Elf64_Verneed vn{};
        if (n == kMaxVersionRecords || !read_vaddr(at, vn)) return fail("DT_VERNEED record at " + hex(at) + " is outside the object");
        if (vn.vn_version != 1) return fail("DT_VERNEED record has version " + dec(vn.vn_version) + ", not 1");
        if (!string_ok(vn.vn_file)) return fail("DT_VERNEED names a file outside the string table");
        // ld.so looks the file up among the object's dependencies and asserts (aborting the whole
        // process) when it is not one of them.
        const std::string_view file = string_at(vn.vn_file);
        if (std::none_of(needed_.begin(), needed_.end(), [&](std::uint64_t o) { return string_at(o) == file; }))
          return fail("DT_VERNEED names versions of " + std::string(file) + ", which is not a DT_NEEDED library of the object");
        std::uint64_t aux = at + vn.vn_aux;
        for (std::size_t k = 0; vn.vn_cnt != 0; ++k) {
          Elf64_Vernaux va{};
          if (k == kMaxVersionRecords || !read_vaddr(aux, va)) return fail("DT_VERNEED auxiliary record at " + hex(aux) + " is outside the object");
          if (!string_ok(va.vna_name)) return fail("DT_VERNEED names a version outside the string table");
          indices.insert(va.vna_other & 0x7fff);
          if (va.vna_next == 0) break;
          aux += va.vna_next;
        }
        if (vn.vn_next == 0) break;
        at += vn.vn_next;
      }
    }
    if (tags_.contains(DT_VERDEF)) {
      std::uint64_t at = tags_.at(DT_VERDEF);
      for (std::size_t n = 0;; ++n) {
        Elf64_Verdef vd{};
        if (n == kMaxVersionRecords || !read_vaddr(at, vd)) return fail("DT_VERDEF record at " + hex(at) + " is outside the object");
        if (vd.vd_version != 1) return fail("DT_VERDEF record has version " + dec(vd.vd_version) + ", not 1");
        Elf64_Verdaux vda{};
        if (!read_vaddr(at + vd.vd_aux, vda) || !string_ok(vda.vda_name))
          return fail("DT_VERDEF record at " + hex(at) + " has no readable name");
        indices.insert(vd.vd_ndx & 0x7fff);
        if (vd.vd_next == 0) break;
        at += vd.vd_next;
      }
    }
    if (elf_.versym_ == 0) return {};
    const std::uint8_t* p = elf_.file_bytes(elf_.versym_, elf_.nsyms_ * 2);
    if (p == nullptr) return fail("DT_VERSYM table is not inside the file part of a PT_LOAD segment");
    for (std::uint64_t i = 0; i < elf_.nsyms_; ++i) {
      std::uint16_t v = 0;
      std::memcpy(&v, p + 2 * i, 2);
      // ld.so indexes its version array with this number unchecked.
      if (!indices.contains(v & 0x7fff)) return fail("symbol " + dec(i) + " has version index " + dec(v & 0x7fff) + ", which no version record defines");
    }
    return {};
  }

  // Calls f(relocation, index, table name) for every entry of DT_RELA and DT_JMPREL, whose bounds
  // it checks first.
  template <class F>
  Status for_each_relocation(F&& f) const {
    for (auto [at_tag, size_tag, what] : {std::tuple{DT_RELA, DT_RELASZ, "DT_RELA"}, std::tuple{DT_JMPREL, DT_PLTRELSZ, "DT_JMPREL"}}) {
      if (!tags_.contains(at_tag)) continue;
      const std::uint64_t at = tags_.at(at_tag), size = tags_.at(size_tag);
      if (size % sizeof(Elf64_Rela) != 0) return fail(std::string(what) + " size " + dec(size) + " is not a multiple of 24");
      const std::uint8_t* p = elf_.file_bytes(at, size);
      if (p == nullptr) return fail(std::string(what) + " table at " + hex(at) + " is not inside the file part of a PT_LOAD segment");
      for (std::uint64_t i = 0; i < size / sizeof(Elf64_Rela); ++i) {
        Elf64_Rela r{};
        std::memcpy(&r, p + i * sizeof r, sizeof r);
        HOTPATCH_TRY(f(r, i, what));
      }
    }
    return {};
  }

  Status relocations() {
    const std::uint64_t relative_first = tags_.contains(DT_RELACOUNT) ? tags_.at(DT_RELACOUNT) : 0;
    if (tags_.contains(DT_RELA) && relative_first > tags_.at(DT_RELASZ) / sizeof(Elf64_Rela))
      return fail("DT_RELACOUNT is " + dec(relative_first) + ", above the " + dec(tags_.at(DT_RELASZ) / sizeof(Elf64_Rela)) + " relocations");
    return for_each_relocation([&](const Elf64_Rela& r, std::uint64_t i, const char* what) {
      return relocation(r, i, what, std::string_view(what) == "DT_RELA" ? relative_first : 0);
    });
  }

  Status relocation(const Elf64_Rela& r, std::uint64_t i, const char* what, std::uint64_t relative_first) const {
    const std::uint32_t type = ELF64_R_TYPE(r.r_info);
    const std::uint64_t sym = ELF64_R_SYM(r.r_info);
    const std::string which = std::string(what) + " relocation " + dec(i);
    // ld.so applies the first DT_RELACOUNT entries as RELATIVE without looking at their type
    // (and asserts that it is), R_X86_64_NONE included.
    if (i < relative_first && type != R_X86_64_RELATIVE) return fail(which + " is counted by DT_RELACOUNT but is not R_X86_64_RELATIVE");
    if (type == R_X86_64_NONE) return {};
    const std::uint64_t width = relocation_width(type);
    if (width == 0) return fail(which + " has type " + dec(type) + ", which a -fPIC patch does not use");
    if (sym >= std::max<std::uint64_t>(elf_.nsyms_, 1)) return fail(which + " refers to symbol " + dec(sym) + " of " + dec(elf_.nsyms_));
    const LoadSegment* seg = elf_.segment_of(r.r_offset, width);
    if (seg == nullptr || !(seg->flags & PF_W)) return fail(which + " writes at " + hex(r.r_offset) + ", outside the writable PT_LOAD segments");
    if (type == R_X86_64_RELATIVE) return {};
    unsigned sym_type = STT_NOTYPE;
    if (sym != 0) {
      Elf64_Sym s{};
      read_vaddr(elf_.symtab_ + sym * sizeof s, s);
      sym_type = ELF64_ST_TYPE(s.st_info);
    }
    if (is_tls_relocation(type)) {
      if (sym == 0 ? !has_tls_ : sym_type != STT_TLS) return fail(which + " is a thread-local relocation against a symbol that is not thread-local");
    } else {
      if (sym == 0) return fail(which + " of type " + dec(type) + " names no symbol");
      if (sym_type == STT_TLS) return fail(which + " is not a thread-local relocation but refers to a thread-local symbol");
    }
    return {};
  }

  Status constructors() {
    for (auto [addr, size] : {std::pair{DT_INIT_ARRAY, DT_INIT_ARRAYSZ}, std::pair{DT_FINI_ARRAY, DT_FINI_ARRAYSZ}}) {
      if (!tags_.contains(addr)) continue;
      const std::uint64_t at = tags_.at(addr), bytes = tags_.at(size);
      if (at % 8 != 0 || bytes % 8 != 0) return fail(tag_name(addr) + " is not an aligned array of pointers");
      if (elf_.segment_of(at, bytes) == nullptr) return fail(tag_name(addr) + " " + hex(at) + " is not inside a PT_LOAD segment");
    }
    return {};
  }

  std::string name_;
  LoadableElf elf_;
  Elf64_Ehdr eh_{};
  std::vector<Elf64_Phdr> phdrs_;
  Elf64_Phdr dynamic_{};
  bool has_tls_ = false;
  std::map<std::int64_t, std::uint64_t> tags_;
  std::vector<std::uint64_t> needed_;
};

const LoadSegment* LoadableElf::segment_of(std::uint64_t vaddr, std::uint64_t size) const {
  for (const auto& s : loads_)
    if (fits(vaddr, size, s.vaddr, s.memsz)) return &s;
  return nullptr;
}

const std::uint8_t* LoadableElf::file_bytes(std::uint64_t vaddr, std::uint64_t size) const {
  for (const auto& s : loads_)
    if (fits(vaddr, size, s.vaddr, s.filesz)) return bytes_.data() + s.offset + (vaddr - s.vaddr);
  return nullptr;
}

bool LoadableElf::in_relro(std::uint64_t vaddr, std::uint64_t size) const {
  return relro_end_ > relro_begin_ && vaddr < relro_end_ && vaddr + size > relro_begin_;
}

Result<LoadableElf> check_loadable_elf(std::span<const std::uint8_t> bytes, const std::string& name) {
  return LoadableElfChecker(bytes, name).run();
}

}  // namespace hotpatch::image
