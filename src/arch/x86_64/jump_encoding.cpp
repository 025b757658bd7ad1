#include "arch/x86_64/jump_encoding.hpp"

#include <cstring>

namespace hotpatch::arch {
namespace {

std::optional<std::int32_t> rel32(std::uint64_t next_instruction, std::uint64_t to) {
  const auto delta = static_cast<std::int64_t>(to - next_instruction);
  if (delta < INT32_MIN || delta > INT32_MAX) return std::nullopt;
  return static_cast<std::int32_t>(delta);
}

}  // namespace

std::optional<std::array<std::uint8_t, kEntryJumpSize>> encode_jump_rel32(std::uint64_t from,
                                                                          std::uint64_t to) {
  auto disp = rel32(from + kEntryJumpSize, to);
  if (!disp) return std::nullopt;
  std::array<std::uint8_t, kEntryJumpSize> out{0xE9};
  std::memcpy(out.data() + 1, &*disp, 4);
  return out;
}

std::optional<std::array<std::uint8_t, kSlotThunkSize>> encode_slot_thunk(std::uint64_t from,
                                                                          std::uint64_t slot) {
  auto disp = rel32(from + kSlotThunkSize, slot);
  if (!disp) return std::nullopt;
  std::array<std::uint8_t, kSlotThunkSize> out{0xFF, 0x25};
  std::memcpy(out.data() + 2, &*disp, 4);
  return out;
}

bool is_endbr64(const std::uint8_t* bytes, std::size_t available) {
  static constexpr std::uint8_t endbr64[] = {0xF3, 0x0F, 0x1E, 0xFA};
  return available >= sizeof endbr64 && std::memcmp(bytes, endbr64, sizeof endbr64) == 0;
}

}  // namespace hotpatch::arch
