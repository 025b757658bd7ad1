#include "arch/x86_64/entry_pad.hpp"

#include <algorithm>
#include <cstring>

namespace hotpatch::arch {
namespace {

bool is_nop_pad(const std::uint8_t* p) {
  static constexpr std::uint8_t long_nop[kPadSize] = {0x0F, 0x1F, 0x44, 0x00, 0x00};
  return std::all_of(p, p + kPadSize, [](std::uint8_t b) { return b == kNop; }) ||
         std::memcmp(p, long_nop, kPadSize) == 0;
}

// One-byte instructions that change nothing a function entry relies on: CF only.
bool harmless_one_byte(std::uint8_t b) {
  return b == 0xF5 /* cmc */ || b == 0xF8 /* clc */ || b == 0xF9 /* stc */;
}

}  // namespace

std::optional<PadPlan> plan_entry_pad(const std::uint8_t* pad, std::size_t function_size) {
  PadPlan plan;
  const std::uint8_t* symbol = pad + kPadSize;
  plan.entry_offset = is_endbr64(symbol, function_size) ? 4 : 0;
  if (function_size < plan.entry_offset + kPadEntrySize) return std::nullopt;
  if (!is_nop_pad(pad)) return std::nullopt;
  const std::uint8_t* entry = symbol + plan.entry_offset;
  // 90 90 (g++) or 66 90 (clang: one instruction, first made 90 90 by a one-byte write).
  if ((entry[0] != kNop && entry[0] != kOperandSizePrefix) || entry[1] != kNop) return std::nullopt;
  // From the end of the short jump back to the pad's first byte.
  const long displacement = -static_cast<long>(kPadSize + plan.entry_offset + kPadEntrySize);
  const auto d = static_cast<std::uint8_t>(displacement);
  if (!harmless_one_byte(d)) return std::nullopt;
  std::memcpy(plan.pad.data(), pad, kPadSize);
  std::memcpy(plan.entry.data(), entry, kPadEntrySize);
  plan.short_jump = {kShortJump, d};
  return plan;
}

EntryPlan entry_plan_of(const PadPlan& pad) {
  EntryPlan plan;
  plan.site_offset = pad.entry_offset;
  plan.overwritten = kPadEntrySize;
  plan.first_instruction = pad.entry[0] == kNop ? 1 : 2;
  std::copy(pad.entry.begin(), pad.entry.end(), plan.original.begin());
  return plan;
}

}  // namespace hotpatch::arch
