// x86-64 encodings of the few instructions the engine writes itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace hotpatch::arch {

/// Bytes a patched entry needs: one `jmp rel32`.
inline constexpr std::size_t kEntryJumpSize = 5;
/// `jmp qword [rip+disp32]`: the thunk that reads the active version from a pointer slot.
inline constexpr std::size_t kSlotThunkSize = 6;
inline constexpr std::uint8_t kInt3 = 0xCC;

/// `jmp rel32` at `from` to `to`; nullopt when out of range.
std::optional<std::array<std::uint8_t, kEntryJumpSize>> encode_jump_rel32(std::uint64_t from,
                                                                          std::uint64_t to);

/// `jmp qword [rip+disp32]` at `from` reading the pointer at `slot`; nullopt when out of range.
std::optional<std::array<std::uint8_t, kSlotThunkSize>> encode_slot_thunk(std::uint64_t from,
                                                                          std::uint64_t slot);

/// True when the bytes are `endbr64` (F3 0F 1E FA).
bool is_endbr64(const std::uint8_t* bytes, std::size_t available);

}  // namespace hotpatch::arch
