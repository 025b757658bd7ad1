// Compiler-placed entry pads (-fpatchable-function-entry=7,5 or the patchable_function_entry(7,5)
// attribute): five NOP bytes before the symbol and two bytes of NOP at the entry (after an endbr64
// when the function has one). The entry jump goes into the pad, which no thread executes, and the
// entry NOPs become a short jump back to it, one byte at a time. Every state on the way is whole
// instructions, wherever a thread stands:
//   66 90 -> 90 90   clang's entry is one two-byte NOP (nobody stands inside it); as two 90s,
//                    a thread may run either or both. g++'s entry starts here.
//   90 90 -> 90 D    D, the short jump's displacement, alone is a one-byte flag instruction: F9
//                    stc, or F5 cmc after an endbr64. Flags are dead at a function entry (the
//                    SysV ABI passes nothing in them; DF is untouched).
//   90 D  -> EB D    the jump to the pad; a thread that stood between the two bytes runs D and
//                    the old body, as it would have anyway.
// So no caller ever traps and no thread needs to be checked or stopped.
#pragma once

#include "arch/x86_64/instruction_scan.hpp"
#include "arch/x86_64/jump_encoding.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace hotpatch::arch {

/// Bytes of the pad before the symbol: exactly one rel32 jump.
inline constexpr std::size_t kPadSize = kEntryJumpSize;
/// Bytes at the entry that become the short jump.
inline constexpr std::size_t kPadEntrySize = 2;
inline constexpr std::uint8_t kShortJump = 0xEB;
inline constexpr std::uint8_t kNop = 0x90;
inline constexpr std::uint8_t kOperandSizePrefix = 0x66;

/// Where the pad and the entry NOPs of one function lie, and what they held.
struct PadPlan {
  std::size_t entry_offset = 0;  ///< entry NOPs from the symbol: 0, or 4 after an endbr64
  std::array<std::uint8_t, kPadSize> pad{};            ///< the pad's bytes, [symbol - 5, symbol)
  std::array<std::uint8_t, kPadEntrySize> entry{};     ///< the entry NOPs as found (90 90)
  std::array<std::uint8_t, kPadEntrySize> short_jump{};  ///< EB D: the entry's jump to the pad
};

/// Recognises the layout from the bytes at `pad` ([symbol - 5, symbol + function_size)). Nullopt
/// unless the pad is NOPs (five 90, or one 0F 1F 44 00 00), the entry NOPs are 90 90 (g++) or the
/// two-byte 66 90 (clang; the writer first turns it into 90 90, one byte, so the displacement never
/// follows an operand-size prefix), the symbol's size covers them, and the displacement byte
/// decodes as a harmless one-byte flag instruction. Whether the compiler really placed the pad is
/// for the caller to confirm.
std::optional<PadPlan> plan_entry_pad(const std::uint8_t* pad, std::size_t function_size);

/// The entry as an EntryPlan: the two NOPs are what the short jump overwrites, so a copy of them
/// followed by a jump back (the trampoline) is the previous version's entry, as for other functions.
EntryPlan entry_plan_of(const PadPlan& pad);

}  // namespace hotpatch::arch
