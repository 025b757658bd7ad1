// The call frame records (.eh_frame) of a relocatable object, cut down to the functions a patch
// loads. Without them an exception, a forced unwind (pthread_cancel) or a backtrace that meets the
// patch's code stops there: libgcc finds no FDE for the address and a C++ exception ends in
// std::terminate. The records are checked here the way libgcc will read them, because libgcc
// aborts the process on an encoding it does not know and trusts every length and offset.
#pragma once

#include <hotpatch/error.hpp>

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace hotpatch::engine {

/// One CIE or FDE of an .eh_frame section.
struct FrameRecord {
  std::size_t offset = 0;      ///< of its length field, in the section
  std::size_t size = 0;        ///< with the length field
  bool cie = false;
  std::size_t cie_offset = 0;  ///< an FDE's CIE
};

/// Splits an object's .eh_frame into its records (up to a zero-length terminator or the end) and
/// checks each: lengths inside the section, every FDE's CIE pointer naming an earlier CIE, CIE
/// versions 1 and 3, augmentations made of z, L, P, R and S with absolute or pc-relative pointer
/// encodings, and call frame instructions libgcc knows whose operands stay inside their record.
/// A refusal is a malformed_patch error without subject whose message says what and where.
Result<std::vector<FrameRecord>> read_frame_records(std::span<const std::uint8_t> section);

/// Which FDEs the copy keeps: `covers` is asked about the relocation of an FDE's pc_begin (does it
/// name loaded code?), `usable` about every other relocation of the FDE and of its CIE (can it be
/// applied where the copy is loaded?).
struct FrameFilter {
  std::function<bool(const Elf64_Rela&)> covers;
  std::function<bool(const Elf64_Rela&)> usable;
};

struct FilteredFrames {
  std::vector<std::uint8_t> bytes;        ///< the CIEs the kept FDEs use, then those FDEs; no terminator
  std::vector<Elf64_Rela> relocations;    ///< the kept records' relocations, r_offset counted in `bytes`
  std::size_t fdes_kept = 0;
  std::size_t fdes_unusable = 0;          ///< covering loaded code, dropped for a relocation not `usable`
};

/// The records of loaded code with their relocations; each kept FDE's CIE pointer is rewritten for
/// its new position. `relocations` are those of the section (r_offset counted in it); one that
/// touches a length or CIE pointer, or lies outside every record, is refused as malformed.
Result<FilteredFrames> filter_frames(std::span<const std::uint8_t> section, const std::vector<FrameRecord>& records,
                                     std::span<const Elf64_Rela> relocations, const FrameFilter& filter);

/// Bytes a relocation of this type writes in a frame record, 0 for one a frame copy cannot take.
std::size_t frame_relocation_size(unsigned type);

}  // namespace hotpatch::engine
