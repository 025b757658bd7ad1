#include "make_patch/function_facts.hpp"

#include <Zydis/Zydis.h>
#include <elf.h>

#include <algorithm>
#include <set>

namespace hotpatch::make_patch {
namespace {

const std::vector<Relocation>* relocations_in(const Object& o, const Symbol& f) {
  auto it = o.relocations.find(f.section);
  return it == o.relocations.end() ? nullptr : &it->second;
}

bool inside(const Symbol& f, std::uint64_t offset) { return offset >= f.value && offset < f.value + f.size; }

// The named symbol covering a place in a section (a variable reached through its section symbol).
const Symbol* covering(const Object& o, std::size_t section, std::uint64_t at) {
  for (const Symbol& s : o.symbols)
    if (s.section == section && (s.type == STT_OBJECT || s.type == STT_FUNC) && !s.name.empty() && at >= s.value &&
        at < s.value + std::max<std::uint64_t>(s.size, 1))
      return &s;
  return nullptr;
}

// What a relocation against a section symbol reaches. A PC-relative addend counts from the end of
// the instruction, which lies 0 to 4 bytes after the field (an immediate may follow it, as in
// `addl $1, counter(%rip)`): the nearest named symbol in that window is taken.
const Symbol* place_of(const Object& o, const Symbol& section, const Relocation& r) {
  const std::int64_t base = static_cast<std::int64_t>(section.value) + r.addend;
  if (!pc_relative(r.type)) return base >= 0 ? covering(o, section.section, static_cast<std::uint64_t>(base)) : nullptr;
  for (std::int64_t k = 4; k <= 8; ++k)
    if (base + k >= 0)
      if (const Symbol* s = covering(o, section.section, static_cast<std::uint64_t>(base + k))) return s;
  return nullptr;
}

}  // namespace

const Symbol* function_symbol(const Object& object, const std::string& name) {
  for (const Symbol& s : object.symbols)
    if (s.type == STT_FUNC && s.name == name && s.section != SHN_UNDEF && s.section < object.sections.size()) return &s;
  return nullptr;
}

std::vector<Reference> references_of(const Object& o, const std::string& name) {
  std::vector<Reference> out;
  const Symbol* f = function_symbol(o, name);
  const auto* relocs = f != nullptr ? relocations_in(o, *f) : nullptr;
  if (relocs == nullptr) return out;
  std::set<std::string> seen;
  for (const Relocation& r : *relocs) {
    if (!inside(*f, r.offset) || r.symbol >= o.symbols.size()) continue;
    const Symbol* s = &o.symbols[r.symbol];
    if (s->type == STT_SECTION && s->section < o.sections.size()) {
      s = place_of(o, *s, r);
      if (s == nullptr) continue;
    }
    if (s->name.empty() || s->name == name || s->type == STT_FILE || s->name == "_GLOBAL_OFFSET_TABLE_") continue;
    if (s->type == STT_NOTYPE && s->bind == STB_LOCAL) continue;  // .LC0 and friends: literals
    if (!seen.insert(s->name).second) continue;
    const bool defined = s->section != SHN_UNDEF;
    // An undefined symbol has no type in the object: a call through the PLT says function.
    const bool function = s->type == STT_FUNC || s->type == STT_GNU_IFUNC || (!defined && r.type == R_X86_64_PLT32);
    out.push_back({s->name, function, defined, s->bind == STB_LOCAL});
  }
  return out;
}

bool never_returns(const Object& o, const std::string& name) {
  const Symbol* f = function_symbol(o, name);
  if (f == nullptr || f->size == 0) return false;
  const Section& sec = o.sections[f->section];
  if (sec.bytes.size() < f->value + f->size) return false;
  const auto* relocs = relocations_in(o, *f);
  auto relocated = [&](std::uint64_t from, std::uint64_t to) {
    if (relocs == nullptr) return false;
    return std::any_of(relocs->begin(), relocs->end(), [&](const Relocation& r) { return r.offset >= from && r.offset < to; });
  };
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  const std::uint8_t* code = sec.bytes.data() + f->value;
  bool loops = false;
  for (std::uint64_t at = 0; at < f->size;) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code + at, f->size - at, &insn, ops))) return false;  // unsure: say nothing
    const std::uint64_t next = at + insn.length;
    switch (insn.mnemonic) {
      case ZYDIS_MNEMONIC_RET:
      case ZYDIS_MNEMONIC_IRET:
      case ZYDIS_MNEMONIC_IRETD:
      case ZYDIS_MNEMONIC_IRETQ:
      case ZYDIS_MNEMONIC_SYSRET:
        return false;
      default:
        break;
    }
    if (insn.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE && insn.mnemonic != ZYDIS_MNEMONIC_CALL) {
      const bool direct = insn.operand_count_visible > 0 && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE;
      // A relocated target is another symbol (a tail call); an indirect jump may leave too.
      if (!direct) {
        if (insn.mnemonic == ZYDIS_MNEMONIC_JMP) return false;
      } else if (relocated(f->value + at, f->value + next)) {
        return false;
      } else {
        const std::int64_t target = static_cast<std::int64_t>(next) + ops[0].imm.value.s;
        if (target < 0 || static_cast<std::uint64_t>(target) >= f->size) return false;
        if (static_cast<std::uint64_t>(target) <= at) loops = true;
      }
    }
    at = next;
  }
  return loops;
}

}  // namespace hotpatch::make_patch
