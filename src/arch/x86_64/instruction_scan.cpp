#include "arch/x86_64/instruction_scan.hpp"
#include "support/hex.hpp"

#include "arch/x86_64/jump_encoding.hpp"

#include <Zydis/Zydis.h>

#include <cstdio>
#include <cstring>

namespace hotpatch::arch {
namespace {

struct Decoder {
  ZydisDecoder decoder;
  Decoder() { ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64); }
  bool decode(const std::uint8_t* p, std::size_t n, ZydisDecodedInstruction& in,
              ZydisDecodedOperand* ops) const {
    return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, p, n, &in, ops));
  }
};

bool is_relative_branch(const ZydisDecodedInstruction& in) {
  return (in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) &&
         (in.meta.category == ZYDIS_CATEGORY_COND_BR || in.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
          in.meta.category == ZYDIS_CATEGORY_CALL);
}

bool ends_flow(const ZydisDecodedInstruction& in) {
  return in.meta.category == ZYDIS_CATEGORY_RET || in.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
         in.mnemonic == ZYDIS_MNEMONIC_UD2 || in.mnemonic == ZYDIS_MNEMONIC_HLT;
}

// Absolute target of a relative branch; false for indirect ones.
bool branch_target(const ZydisDecodedInstruction& in, const ZydisDecodedOperand* ops,
                   std::uint64_t address, std::uint64_t& target) {
  for (int i = 0; i < in.operand_count_visible; ++i) {
    if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative)
      return ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[i], address, &target));
  }
  return false;
}

}  // namespace

Result<EntryPlan> plan_entry(const std::uint8_t* code, std::size_t size, std::uint64_t address,
                             const std::string& name, bool ibt_enforced) {
  const Decoder dec;
  EntryPlan plan;
  if (size == 0)
    return make_error(ErrorCode::not_patchable, name,
                      "the symbol table gives no size for this function, so its code cannot be checked");
  plan.site_offset = is_endbr64(code, size) ? 4 : 0;
  if (plan.site_offset != 0 && size < plan.site_offset + kEntryJumpSize && !ibt_enforced) plan.site_offset = 0;
  if (size < plan.site_offset + kEntryJumpSize)
    return make_error(ErrorCode::not_patchable, name,
                      "function is too short: " + std::to_string(size) + " bytes, but the entry jump needs " +
                          std::to_string(plan.site_offset + kEntryJumpSize) +
                          (plan.site_offset != 0 ? " (its endbr64 stays: indirect-branch tracking is enforced)" : ""));

  // The instructions the jump covers.
  const std::uint64_t site = address + plan.site_offset;
  std::size_t off = 0;
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  while (off < kEntryJumpSize) {
    const std::size_t at = plan.site_offset + off;
    if (!dec.decode(code + at, size - at, in, ops))
      return make_error(ErrorCode::not_patchable, name,
                        "cannot decode the instruction at +" + std::to_string(at));
    if (in.meta.category == ZYDIS_CATEGORY_CALL)
      return make_error(ErrorCode::not_patchable, name,
                        "a call at +" + std::to_string(at) +
                            " lies inside the bytes the jump overwrites (its return address would point "
                            "into the jump)");
    if (off == 0) plan.first_instruction = in.length;
    off += in.length;
    if (ends_flow(in) && off < kEntryJumpSize)
      return make_error(ErrorCode::not_patchable, name,
                        "function is too short: its entry block ends after " + std::to_string(off) +
                            " bytes, but the jump needs " + std::to_string(kEntryJumpSize));
  }
  plan.overwritten = off;
  std::memcpy(plan.original.data(), code + plan.site_offset, off);

  // No branch of the function may land strictly inside the overwritten bytes.
  for (std::size_t at = 0; at < size;) {
    if (!dec.decode(code + at, size - at, in, ops))
      return make_error(ErrorCode::not_patchable, name,
                        "cannot decode the instruction at +" + std::to_string(at) +
                            ", so branches into the entry cannot be ruled out");
    std::uint64_t target = 0;
    if (is_relative_branch(in) && branch_target(in, ops, address + at, target) && target > site &&
        target < site + plan.overwritten)
      return make_error(ErrorCode::not_patchable, name,
                        "the branch at +" + std::to_string(at) + " jumps to +" +
                            std::to_string(target - address) + ", inside the " +
                            std::to_string(plan.overwritten) + " bytes the entry jump overwrites");
    at += in.length;
  }
  return plan;
}

Result<RelocatedEntry> relocate_entry(const EntryPlan& plan, std::uint64_t site_address,
                                      std::uint64_t trampoline_address, const std::string& name) {
  const Decoder dec;
  RelocatedEntry out;
  out.offset_map.fill(kNoBoundary);
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  for (std::size_t off = 0; off < plan.overwritten; off += in.length) {
    if (!dec.decode(plan.original.data() + off, plan.overwritten - off, in, ops))
      return make_error(ErrorCode::internal, name, "entry bytes no longer decode at +" + std::to_string(off));
    out.offset_map[off] = static_cast<std::uint8_t>(out.bytes.size());
    const std::uint64_t from = site_address + off;
    const std::uint64_t to = trampoline_address + out.bytes.size();
    if (!(in.attributes & ZYDIS_ATTRIB_IS_RELATIVE)) {
      out.bytes.insert(out.bytes.end(), plan.original.data() + off, plan.original.data() + off + in.length);
      continue;
    }
    // Re-encode with the same absolute target at the new address (rel8 branches grow to rel32).
    ZydisEncoderRequest req;
    if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(&in, ops, in.operand_count_visible, &req)))
      return make_error(ErrorCode::not_patchable, name,
                        "the instruction at +" + std::to_string(off) + " cannot be relocated");
    std::uint64_t expected = 0;
    for (int i = 0; i < in.operand_count_visible; ++i) {
      std::uint64_t abs = 0;
      const bool rip_mem = ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP;
      const bool rel_imm = ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative;
      if (!rip_mem && !rel_imm) continue;
      if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[i], from, &abs)))
        return make_error(ErrorCode::not_patchable, name, "cannot compute the target at +" + std::to_string(off));
      if (rip_mem) req.operands[i].mem.displacement = static_cast<ZyanI64>(abs);
      else req.operands[i].imm.u = abs;
      expected = abs;
    }
    req.branch_type = ZYDIS_BRANCH_TYPE_NONE;
    req.branch_width = ZYDIS_BRANCH_WIDTH_NONE;
    std::uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof buf;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(&req, buf, &len, to)))
      return make_error(ErrorCode::not_patchable, name,
                        "the instruction at +" + std::to_string(off) + " cannot be relocated to " + hex(to) +
                            " (target out of rel32 range or no long form)");
    // Check the copy really reaches the same place.
    ZydisDecodedInstruction check;
    ZydisDecodedOperand check_ops[ZYDIS_MAX_OPERAND_COUNT];
    std::uint64_t got = 0;
    bool same = dec.decode(buf, len, check, check_ops);
    if (same) {
      same = false;
      for (int i = 0; i < check.operand_count_visible; ++i) {
        const bool rip_mem = check_ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && check_ops[i].mem.base == ZYDIS_REGISTER_RIP;
        const bool rel_imm = check_ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && check_ops[i].imm.is_relative;
        if ((rip_mem || rel_imm) && ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&check, &check_ops[i], to, &got)))
          same = got == expected;
      }
    }
    if (!same)
      return make_error(ErrorCode::not_patchable, name,
                        "relocating the instruction at +" + std::to_string(off) + " changed its target");
    out.bytes.insert(out.bytes.end(), buf, buf + len);
  }
  const std::uint64_t back_from = trampoline_address + out.bytes.size();
  auto back = encode_jump_rel32(back_from, site_address + plan.overwritten);
  if (!back)
    return make_error(ErrorCode::internal, name, "trampoline at " + hex(trampoline_address) + " is out of jump range");
  out.bytes.insert(out.bytes.end(), back->begin(), back->end());
  return out;
}

}  // namespace hotpatch::arch
