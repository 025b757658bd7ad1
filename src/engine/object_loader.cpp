#include "engine/object_loader.hpp"

#include "engine/unwind_frames.hpp"
#include "os/linux/near_allocator.hpp"
#include "support/hex.hpp"

#include <dlfcn.h>
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace hotpatch::engine {
namespace {

// Everything the code reaches with a 32-bit displacement stays this close to `near`.
constexpr std::uint64_t kReach = (1ull << 31) - (64ull << 20);
constexpr std::size_t kPage = 4096;
constexpr std::size_t kMaxLoaded = 256u << 20;
constexpr const char* kFrameSection = ".eh_frame";

struct Placed {
  std::size_t index = 0;       // section header index
  bool code_part = false;      // in the block that becomes read-only (code and constants)
  std::size_t offset = 0;      // in its block
};

class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, std::string who, std::string whose)
      : bytes_(bytes), who_(std::move(who)), whose_(std::move(whose)) {}

  Error bad(const std::string& what) const { return make_error(ErrorCode::malformed_patch, who_, whose_ + ": " + what); }

  template <class T>
  Result<T> at(std::uint64_t offset) const {
    if (offset > bytes_.size() || bytes_.size() - offset < sizeof(T)) return bad("reads past its end");
    T v;
    std::memcpy(&v, bytes_.data() + offset, sizeof v);
    return v;
  }
  Result<std::string> string(std::uint64_t table_offset, std::uint64_t table_size, std::uint64_t index) const {
    if (index >= table_size || table_offset > bytes_.size() || bytes_.size() - table_offset < table_size)
      return bad("a name lies outside its string table");
    const char* s = reinterpret_cast<const char*>(bytes_.data() + table_offset + index);
    return std::string(s, strnlen(s, table_size - index));
  }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  std::span<const std::uint8_t> bytes_;
  std::string who_;
  std::string whose_;
};

std::size_t align_up(std::size_t v, std::size_t a) { return a <= 1 ? v : (v + a - 1) / a * a; }

const char* relocation_name(unsigned type) {
  switch (type) {
    case R_X86_64_32: return "R_X86_64_32";
    case R_X86_64_32S: return "R_X86_64_32S";
    case R_X86_64_GOT32: return "R_X86_64_GOT32";
    case R_X86_64_TLSGD: return "R_X86_64_TLSGD";
    case R_X86_64_TLSLD: return "R_X86_64_TLSLD";
    case R_X86_64_DTPOFF32: return "R_X86_64_DTPOFF32";
    case R_X86_64_GOTTPOFF: return "R_X86_64_GOTTPOFF";
    case R_X86_64_TPOFF32: return "R_X86_64_TPOFF32";
    default: return "an unsupported relocation";
  }
}

struct Rel {
  std::size_t section;
  Elf64_Rela rela;
};

// One object as read and checked, with its sections placed in the blocks all objects share.
struct Parsed {
  Reader r;
  std::vector<Elf64_Shdr> sh;
  std::vector<std::string> section_names;
  std::vector<Elf64_Sym> syms;
  std::vector<std::string> sym_names;
  std::map<std::size_t, Placed> placed;
  std::vector<Rel> rels;
  std::map<std::size_t, std::uintptr_t> resolved;  // symbol index -> address
  std::size_t eh_frame = 0;                        // its .eh_frame section, 0 when it has none
  std::vector<Elf64_Rela> eh_frame_rels;
};

// Reads one object's headers, names and symbols, places the wanted sections after those placed
// before (code_end and data_end grow), and collects their relocations.
Result<Parsed> parse_and_place(const ObjectToLoad& in, const std::string& who, const std::string& whose,
                               std::size_t& code_end, std::size_t& data_end) {
  Parsed o{Reader(in.bytes, who, whose), {}, {}, {}, {}, {}, {}, {}, 0, {}};
  const Reader& r = o.r;
  const auto object = in.bytes;
  HOTPATCH_LET(eh, r.at<Elf64_Ehdr>(0));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_REL ||
      eh.e_machine != EM_X86_64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0)
    return r.bad("not an x86-64 relocatable object");
  auto& sh = o.sh;
  sh.resize(eh.e_shnum);
  for (std::size_t i = 0; i < sh.size(); ++i) {
    HOTPATCH_LET(s, r.at<Elf64_Shdr>(eh.e_shoff + i * sizeof(Elf64_Shdr)));
    if (s.sh_type != SHT_NOBITS && (s.sh_offset > object.size() || object.size() - s.sh_offset < s.sh_size))
      return r.bad("section " + std::to_string(i) + " lies outside the object");
    if (s.sh_addralign > kPage) return r.bad("section " + std::to_string(i) + " asks for an alignment above a page");
    sh[i] = s;
  }
  if (eh.e_shstrndx >= sh.size()) return r.bad("no section name table");
  const auto& names = sh[eh.e_shstrndx];
  auto& section_names = o.section_names;
  section_names.resize(sh.size());
  std::size_t symtab = 0;
  for (std::size_t i = 0; i < sh.size(); ++i) {
    HOTPATCH_LET(n, r.string(names.sh_offset, names.sh_size, sh[i].sh_name));
    section_names[i] = std::move(n);
    if (sh[i].sh_type == SHT_SYMTAB) symtab = i;
    if (section_names[i] == kFrameSection && sh[i].sh_type != SHT_NOBITS && (sh[i].sh_flags & SHF_ALLOC)) o.eh_frame = i;
  }
  if (symtab == 0 || sh[symtab].sh_link >= sh.size() || sh[symtab].sh_entsize != sizeof(Elf64_Sym))
    return r.bad("no symbol table");
  const auto& strtab = sh[sh[symtab].sh_link];

  for (const auto& name : in.sections) {
    // The frame records are never loaded as they are: only those of loaded code are (frames_of).
    if (name == kFrameSection) continue;
    auto it = std::find(section_names.begin(), section_names.end(), name);
    if (it == section_names.end()) return r.bad("has no section " + name + " (the patch names it)");
    const std::size_t i = static_cast<std::size_t>(it - section_names.begin());
    const auto& s = sh[i];
    if (!(s.sh_flags & SHF_ALLOC)) return r.bad("section " + name + " is not loadable");
    if (s.sh_flags & SHF_TLS) return r.bad("section " + name + " holds thread-local data, which a patch cannot add");
    if (s.sh_size > kMaxLoaded) return r.bad("section " + name + " is larger than 256 MiB");
    Placed p{i, !(s.sh_flags & SHF_WRITE), 0};
    std::size_t& end = p.code_part ? code_end : data_end;
    p.offset = align_up(end, std::max<std::size_t>(s.sh_addralign, 1));
    end = p.offset + s.sh_size;
    if (end > kMaxLoaded) return r.bad("the sections to load add up to more than 256 MiB");
    o.placed[i] = p;
  }

  const std::size_t nsyms = sh[symtab].sh_size / sizeof(Elf64_Sym);
  o.syms.resize(nsyms);
  o.sym_names.resize(nsyms);
  for (std::size_t i = 0; i < nsyms; ++i) {
    HOTPATCH_LET(s, r.at<Elf64_Sym>(sh[symtab].sh_offset + i * sizeof(Elf64_Sym)));
    o.syms[i] = s;
    HOTPATCH_LET(n, r.string(strtab.sh_offset, strtab.sh_size, s.st_name));
    o.sym_names[i] = std::move(n);
    if (s.st_shndx != SHN_UNDEF && s.st_shndx < SHN_LORESERVE && s.st_shndx >= sh.size())
      return r.bad("symbol '" + o.sym_names[i] + "' names section " + std::to_string(s.st_shndx));
  }

  for (std::size_t i = 0; i < sh.size(); ++i) {
    if (sh[i].sh_type == SHT_REL) return r.bad("section " + section_names[i] + " has REL relocations (x86-64 uses RELA)");
    const bool of_frames = o.eh_frame != 0 && sh[i].sh_info == o.eh_frame;
    if (sh[i].sh_type != SHT_RELA || (!o.placed.contains(sh[i].sh_info) && !of_frames)) continue;
    if (sh[i].sh_link != symtab || sh[i].sh_entsize != sizeof(Elf64_Rela)) return r.bad("relocations not against its symbol table");
    for (std::size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Rela); ++k) {
      HOTPATCH_LET(rela, r.at<Elf64_Rela>(sh[i].sh_offset + k * sizeof(Elf64_Rela)));
      if (ELF64_R_SYM(rela.r_info) >= nsyms) return r.bad("a relocation names symbol " + std::to_string(ELF64_R_SYM(rela.r_info)));
      if (of_frames) {
        o.eh_frame_rels.push_back(rela);  // filter_frames checks where they lie
        continue;
      }
      const auto& target = sh[sh[i].sh_info];
      if (target.sh_type == SHT_NOBITS || rela.r_offset > target.sh_size || target.sh_size - rela.r_offset < 4)
        return r.bad("a relocation lies outside section " + section_names[sh[i].sh_info]);
      o.rels.push_back({sh[i].sh_info, rela});
    }
  }
  return o;
}

bool in_loaded_section(const Parsed& o, std::size_t k) {
  const auto& sym = o.syms[k];
  return sym.st_shndx != SHN_UNDEF && sym.st_shndx < o.sh.size() && o.placed.contains(sym.st_shndx);
}

bool defines_in_loaded_section(const Parsed& o, std::size_t k) {
  const int t = ELF64_ST_TYPE(o.syms[k].st_info);
  return (t == STT_FUNC || t == STT_OBJECT) && in_loaded_section(o, k);
}

// The frame records of the object's loaded code. A record whose relocations name anything but a
// loaded section is left out: an LSDA or personality reference the patch does not carry (one
// made before make-patch carried them) cannot be made up here, and a record without it would
// have libgcc skip that function's cleanups and handlers.
Result<FilteredFrames> frames_of(const Parsed& o) {
  if (o.eh_frame == 0) return FilteredFrames{};
  const auto& s = o.sh[o.eh_frame];
  const auto bytes = o.r.bytes().subspan(s.sh_offset, s.sh_size);
  auto records = read_frame_records(bytes);
  if (!records) return o.r.bad(std::string(kFrameSection) + ": " + records.error().message);
  auto loaded = [&o](const Elf64_Rela& rel) { return in_loaded_section(o, ELF64_R_SYM(rel.r_info)); };
  auto kept = filter_frames(bytes, *records, o.eh_frame_rels, FrameFilter{loaded, loaded});
  if (!kept) return o.r.bad(std::string(kFrameSection) + ": " + kept.error().message);
  return kept;
}

// libgcc's registry of frame tables, looked up rather than linked: the one the process's symbol
// lookup finds is the one its unwinding uses, and where there is none the code is still loaded
// (without its records, which the apply log says).
struct FrameRegistry {
  void (*add)(void*) = nullptr;
  void (*remove)(void*) = nullptr;
  explicit operator bool() const { return add != nullptr && remove != nullptr; }
};

FrameRegistry frame_registry() {
  return {reinterpret_cast<void (*)(void*)>(dlsym(RTLD_DEFAULT, "__register_frame")),
          reinterpret_cast<void (*)(void*)>(dlsym(RTLD_DEFAULT, "__deregister_frame"))};
}

// Where each object's frame records go in the code block: from `at`, one after the other, then
// the zero-length record that ends the table. Returns the end of the table (`at` when no record
// is kept).
std::size_t place_frames(const std::vector<FilteredFrames>& frames, std::size_t at, std::vector<std::size_t>& offsets) {
  std::size_t end = at;
  for (const auto& f : frames) {
    offsets.push_back(end);
    end += f.bytes.size();
  }
  return end == at ? at : end + 4;
}

// Applies a frame copy's relocations: each names a loaded section (frames_of kept no other).
Status relocate_frames(const Parsed& o, const FilteredFrames& f, std::uint8_t* copy, std::uintptr_t copy_at,
                       const std::function<std::uintptr_t(const Placed&)>& address_of) {
  for (const auto& rel : f.relocations) {
    const auto& sym = o.syms[ELF64_R_SYM(rel.r_info)];
    const std::uint64_t S = address_of(o.placed.at(sym.st_shndx)) + sym.st_value;
    const std::uint64_t A = static_cast<std::uint64_t>(rel.r_addend);
    const std::uint64_t P = copy_at + rel.r_offset;
    std::uint8_t* where = copy + rel.r_offset;
    if (ELF64_R_TYPE(rel.r_info) == R_X86_64_PC32) {
      const auto v = static_cast<std::int64_t>(S + A - P);
      if (v != static_cast<std::int32_t>(v)) return o.r.bad(std::string(kFrameSection) + ": a 32-bit pc-relative pointer cannot reach its target");
      const auto v32 = static_cast<std::int32_t>(v);
      std::memcpy(where, &v32, 4);
    } else {
      const std::uint64_t v = ELF64_R_TYPE(rel.r_info) == R_X86_64_64 ? S + A : S + A - P;
      std::memcpy(where, &v, 8);
    }
  }
  return {};
}

}  // namespace

std::optional<std::uintptr_t> LoadedObject::symbol(std::size_t object, std::string_view name) const {
  if (object >= symbols_.size()) return std::nullopt;
  for (const auto& [n, a] : symbols_[object])
    if (n == name) return a;
  return std::nullopt;
}

void LoadedObject::unload() const {
  if (frames_ != 0) deregister_frames_(reinterpret_cast<void*>(frames_));
  if (total_size_ != 0) os::unmap(code_base_, total_size_);
}

Result<LoadedObject> load_object_near(std::span<const std::uint8_t> object, const std::vector<std::string>& wanted,
                                      std::uintptr_t near, const ObjectSymbolLookup& lookup, const std::string& who) {
  return load_objects_near({ObjectToLoad{object, wanted, ""}}, near, lookup, who);
}

Result<LoadedObject> load_objects_near(const std::vector<ObjectToLoad>& inputs, std::uintptr_t near,
                                       const ObjectSymbolLookup& lookup, const std::string& who) {
  // Layout: code and constants of every object in one block (read-only once written), then the
  // GOT and the stubs of far calls, then a page boundary and the writable data.
  std::vector<Parsed> objects;
  std::size_t code_end = 0, data_end = 0;
  for (const auto& in : inputs) {
    const std::string whose = inputs.size() == 1 || in.unit.empty() ? "its object" : "its object for " + in.unit;
    HOTPATCH_LET(o, parse_and_place(in, who, whose, code_end, data_end));
    objects.push_back(std::move(o));
  }

  // What each object defines for the others: a global function or variable in a loaded section
  // (a new function of one unit that another calls, or the fixed version of a changed one).
  std::map<std::string, std::pair<std::size_t, std::size_t>> shared;  // name -> (object, symbol)
  for (std::size_t j = 0; j < objects.size(); ++j) {
    const Parsed& o = objects[j];
    for (std::size_t k = 0; k < o.syms.size(); ++k) {
      if (ELF64_ST_BIND(o.syms[k].st_info) == STB_LOCAL || !defines_in_loaded_section(o, k)) continue;
      auto [at, added] = shared.emplace(o.sym_names[k], std::pair{j, k});
      // Two weak copies are one, as a linker keeps one of a COMDAT group (DW.ref.* cells, inline
      // functions): the first serves the others.
      const auto& first = objects[at->second.first].syms[at->second.second];
      if (!added && (ELF64_ST_BIND(first.st_info) != STB_WEAK || ELF64_ST_BIND(o.syms[k].st_info) != STB_WEAK))
        return o.r.bad("defines '" + o.sym_names[k] + "', which another object of the patch defines too");
    }
  }

  // GOT and stub slots, one per (object, symbol) that needs them.
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> got_slot;
  for (std::size_t j = 0; j < objects.size(); ++j) {
    for (const auto& rel : objects[j].rels) {
      const unsigned type = ELF64_R_TYPE(rel.rela.r_info);
      const std::size_t s = ELF64_R_SYM(rel.rela.r_info);
      if (type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX || type == R_X86_64_PLT32)
        got_slot.emplace(std::pair{j, s}, got_slot.size());
    }
  }
  // The frame records of the loaded code go with the code (read-only), ahead of the GOT.
  const FrameRegistry registry = frame_registry();
  UnwindRegistration unwind;
  std::vector<FilteredFrames> frames(objects.size());
  for (std::size_t j = 0; j < objects.size(); ++j) {
    if (objects[j].eh_frame == 0) continue;
    if (!registry) {
      unwind.no_unwinder = true;
      continue;
    }
    HOTPATCH_LET(f, frames_of(objects[j]));
    unwind.functions += f.fdes_kept;
    unwind.left_out += f.fdes_unusable;
    frames[j] = std::move(f);
  }
  std::vector<std::size_t> frame_offsets;
  const std::size_t frames_at = align_up(code_end, 8);
  const std::size_t frames_end = place_frames(frames, frames_at, frame_offsets);
  const std::size_t got_at = align_up(frames_end, 8);
  const std::size_t stubs_at = got_at + got_slot.size() * 8;
  const std::size_t code_block = align_up(stubs_at + got_slot.size() * 8, kPage);
  const std::size_t total = code_block + align_up(std::max<std::size_t>(data_end, 1), kPage);
  HOTPATCH_LET(base, os::map_near(near, total, kReach));
  const std::uintptr_t data_base = base + code_block;
  auto address_of = [&](const Placed& p) { return (p.code_part ? base : data_base) + p.offset; };

  std::vector<std::uint8_t> code(code_block, 0), data(total - code_block, 0);
  for (const auto& in_o : objects) {
    for (const auto& [i, p] : in_o.placed) {
      if (in_o.sh[i].sh_type == SHT_NOBITS || in_o.sh[i].sh_size == 0) continue;
      auto& block = p.code_part ? code : data;
      std::memcpy(block.data() + p.offset, in_o.r.bytes().data() + in_o.sh[i].sh_offset, in_o.sh[i].sh_size);
    }
  }

  auto fail = [&](Error e) -> Error {
    os::unmap(base, total);
    return e;
  };
  // Symbol values: carried ones from the layout, the rest from the other objects or the process.
  for (std::size_t j = 0; j < objects.size(); ++j) {
    Parsed& o = objects[j];
    const Reader& r = o.r;
    const std::string& unit = inputs[j].unit;
    std::vector<std::size_t> need;
    for (const auto& rel : o.rels) need.push_back(ELF64_R_SYM(rel.rela.r_info));
    std::sort(need.begin(), need.end());
    need.erase(std::unique(need.begin(), need.end()), need.end());
    for (std::size_t s : need) {
      const auto& sym = o.syms[s];
      const std::string& name = o.sym_names[s];
      const int type = ELF64_ST_TYPE(sym.st_info);
      if (type == STT_TLS) return fail(r.bad("uses thread-local variable '" + name + "', which a patch cannot reach"));
      if (sym.st_shndx == SHN_ABS) {
        o.resolved[s] = sym.st_value;
      } else if (sym.st_shndx != SHN_UNDEF && sym.st_shndx < o.sh.size() && o.placed.contains(sym.st_shndx)) {
        o.resolved[s] = address_of(o.placed[sym.st_shndx]) + sym.st_value;
      } else if (sym.st_shndx == SHN_COMMON) {
        return fail(r.bad("common symbol '" + name + "' (compile with -fno-common)"));
      } else if (type == STT_SECTION) {
        // A reference into a section the patch does not carry: the program's own data or code
        // there, named by the symbol that starts the section (one per section with
        // -ffunction-sections and -fdata-sections).
        const std::size_t sec = sym.st_shndx;
        if (sec == SHN_UNDEF || sec >= o.sh.size()) return fail(r.bad("section symbol " + std::to_string(s) + " names no section"));
        std::optional<std::size_t> named;
        for (std::size_t k = 0; k < o.syms.size(); ++k) {
          const int t = ELF64_ST_TYPE(o.syms[k].st_info);
          if (o.syms[k].st_shndx == sec && o.syms[k].st_value == 0 && (t == STT_OBJECT || t == STT_FUNC)) {
            named = k;
            break;
          }
        }
        if (!named) return fail(r.bad("refers into section " + o.section_names[sec] + ", which it does not carry and no symbol names"));
        auto at = lookup(o.sym_names[*named], ELF64_ST_BIND(o.syms[*named].st_info) == STB_LOCAL, unit);
        if (!at) return fail(at.error());
        o.resolved[s] = *at;
      } else if (auto other = shared.find(name);
                 other != shared.end() && ELF64_ST_BIND(sym.st_info) != STB_LOCAL && other->second.first != j) {
        const Parsed& def = objects[other->second.first];
        const auto& d = def.syms[other->second.second];
        o.resolved[s] = address_of(def.placed.at(d.st_shndx)) + d.st_value;
      } else {
        auto at = lookup(name, ELF64_ST_BIND(sym.st_info) == STB_LOCAL && sym.st_shndx != SHN_UNDEF, unit);
        if (!at) return fail(at.error());
        o.resolved[s] = *at;
      }
    }
  }

  for (const auto& [key, slot] : got_slot) {
    const std::uint64_t value = objects[key.first].resolved[key.second];
    std::memcpy(code.data() + got_at + slot * 8, &value, 8);
    // jmp *got(%rip); two bytes of int3 after it
    std::uint8_t stub[8] = {0xff, 0x25, 0, 0, 0, 0, 0xcc, 0xcc};
    const std::int64_t disp = static_cast<std::int64_t>(got_at + slot * 8) - static_cast<std::int64_t>(stubs_at + slot * 8 + 6);
    const auto d32 = static_cast<std::int32_t>(disp);
    std::memcpy(stub + 2, &d32, 4);
    std::memcpy(code.data() + stubs_at + slot * 8, stub, 8);
  }

  for (std::size_t j = 0; j < objects.size(); ++j) {
    Parsed& o = objects[j];
    const Reader& r = o.r;
    for (const auto& rel : o.rels) {
      const Placed& p = o.placed[rel.section];
      auto& block = p.code_part ? code : data;
      std::uint8_t* where = block.data() + p.offset + rel.rela.r_offset;
      const std::uintptr_t place = address_of(p) + rel.rela.r_offset;
      const unsigned type = ELF64_R_TYPE(rel.rela.r_info);
      const std::size_t s = ELF64_R_SYM(rel.rela.r_info);
      // Addends come from the object: the sums wrap as the CPU's do, and only the 32-bit range
      // check decides whether a value fits.
      const std::uint64_t S = o.resolved[s];
      const std::uint64_t A = static_cast<std::uint64_t>(rel.rela.r_addend);
      const std::uint64_t P = place;
      auto sum = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
      auto put32 = [&](std::int64_t v) -> Status {
        if (v != static_cast<std::int32_t>(v)) {
          return make_error(ErrorCode::not_patchable, who,
                            "its code in " + o.section_names[rel.section] + " cannot reach '" + o.sym_names[s] + "' at " +
                                hex(static_cast<std::uintptr_t>(S)) + " with a 32-bit displacement");
        }
        const auto v32 = static_cast<std::int32_t>(v);
        std::memcpy(where, &v32, 4);
        return {};
      };
      Status done;
      switch (type) {
        case R_X86_64_NONE: break;
        case R_X86_64_64: {
          if (rel.rela.r_offset + 8 > o.sh[rel.section].sh_size) return fail(r.bad("a 64-bit relocation crosses its section's end"));
          const std::uint64_t v = S + A;
          std::memcpy(where, &v, 8);
          break;
        }
        case R_X86_64_PC64: {
          if (rel.rela.r_offset + 8 > o.sh[rel.section].sh_size) return fail(r.bad("a 64-bit relocation crosses its section's end"));
          const std::uint64_t v = S + A - P;
          std::memcpy(where, &v, 8);
          break;
        }
        case R_X86_64_PC32: done = put32(sum(S + A - P)); break;
        case R_X86_64_PLT32: {
          const std::int64_t direct = sum(S + A - P);
          if (direct == static_cast<std::int32_t>(direct)) {
            done = put32(direct);
          } else {
            const std::uint64_t stub = base + stubs_at + got_slot[{j, s}] * 8;
            done = put32(sum(stub + A - P));
          }
          break;
        }
        case R_X86_64_GOTPCREL:
        case R_X86_64_GOTPCRELX:
        case R_X86_64_REX_GOTPCRELX:
          done = put32(sum(base + got_at + got_slot[{j, s}] * 8 + A - P));
          break;
        default: {
          return fail(r.bad(std::string(relocation_name(type)) + " (type " + std::to_string(type) + ") against '" +
                            o.sym_names[s] + "' in " + o.section_names[rel.section] +
                            ": thread-local data and position-dependent code cannot be loaded (build with -fPIE or -fPIC)"));
        }
      }
      if (!done) return fail(done.error());
    }
  }

  for (std::size_t j = 0; j < objects.size(); ++j) {
    if (frames[j].bytes.empty()) continue;
    std::uint8_t* copy = code.data() + frame_offsets[j];
    std::memcpy(copy, frames[j].bytes.data(), frames[j].bytes.size());
    if (auto s = relocate_frames(objects[j], frames[j], copy, base + frame_offsets[j], address_of); !s) return fail(s.error());
  }
  // What libgcc will read, read once more: a relocation may have written over what was checked.
  if (frames_end != frames_at) {
    if (auto again = read_frame_records({code.data() + frames_at, frames_end - frames_at}); !again)
      return fail(make_error(ErrorCode::malformed_patch, who, "its relocated .eh_frame: " + again.error().message));
  }

  if (!code.empty()) std::memcpy(reinterpret_cast<void*>(base), code.data(), code.size());
  if (!data.empty()) std::memcpy(reinterpret_cast<void*>(data_base), data.data(), data.size());
  if (code_block != 0) {
    if (auto s = os::protect_code(base, code_block); !s) return fail(s.error());
  }

  LoadedObject loaded;
  loaded.code_base_ = base;
  loaded.code_size_ = code_block;
  loaded.total_size_ = total;
  loaded.unwind_ = unwind;
  // Last: from here on an unwinder may read the table, and nothing below can fail.
  if (frames_end != frames_at) {
    registry.add(reinterpret_cast<void*>(base + frames_at));
    loaded.frames_ = base + frames_at;
    loaded.deregister_frames_ = registry.remove;
  }
  loaded.symbols_.resize(objects.size());
  for (std::size_t j = 0; j < objects.size(); ++j) {
    const Parsed& o = objects[j];
    for (std::size_t k = 0; k < o.syms.size(); ++k)
      if (defines_in_loaded_section(o, k)) loaded.symbols_[j].emplace_back(o.sym_names[k], address_of(o.placed.at(o.syms[k].st_shndx)) + o.syms[k].st_value);
  }
  return loaded;
}

}  // namespace hotpatch::engine
