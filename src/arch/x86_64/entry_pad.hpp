// Compiler-placed entry pads (-fpatchable-function-entry=7,5 or the patchable_function_entry(7,5)
// attribute): five NOP bytes before the symbol and two one-byte NOPs at the entry (after an
// endbr64 when the function has one). The entry jump goes into the pad, which no thread executes,
// and the two entry NOPs become a short jump back to it, one byte at a time, second byte first.
// Every state on the way is whole one-byte instructions a thread may stand between:
//   90 90  ->  90 D   (nop; D = the short jump's displacement, itself a one-byte flag instruction:
//                      F9 stc, or F5 cmc after an endbr64. Flags are dead at a function entry:
//                      the SysV ABI passes nothing in them, and DF stays untouched)
//          ->  EB D   (jmp to the pad; a thread that stood between the two bytes runs D and the
//                      old body, as it would have anyway)
// so no caller ever traps and no thread needs to be checked or stopped.
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

/// Where the pad and the entry NOPs of one function lie, and what they held.
struct PadPlan {
  std::size_t entry_offset = 0;  ///< entry NOPs from the symbol: 0, or 4 after an endbr64
  std::array<std::uint8_t, kPadSize> pad{};            ///< the pad's bytes, [symbol - 5, symbol)
  std::array<std::uint8_t, kPadEntrySize> entry{};     ///< the entry NOPs as found (90 90)
  std::array<std::uint8_t, kPadEntrySize> short_jump{};  ///< EB D: the entry's jump to the pad
};

/// Recognises the layout from the bytes at `pad` ([symbol - 5, symbol + function_size)). Nullopt
/// unless the pad is NOPs (five 90, or one 0F 1F 44 00 00), the entry NOPs are two single-byte 90
/// (a `66 90` is one instruction whose displacement byte would follow an operand-size prefix: not
/// taken), the symbol's size covers them, and the displacement byte decodes as a harmless one-byte
/// flag instruction. Whether the compiler really placed the pad is for the caller to confirm.
std::optional<PadPlan> plan_entry_pad(const std::uint8_t* pad, std::size_t function_size);

/// The entry as an EntryPlan: the two NOPs are what the short jump overwrites, so a copy of them
/// followed by a jump back (the trampoline) is the previous version's entry, as for other functions.
EntryPlan entry_plan_of(const PadPlan& pad);

}  // namespace hotpatch::arch
