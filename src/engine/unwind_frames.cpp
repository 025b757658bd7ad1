#include "engine/unwind_frames.hpp"

#include "support/hex.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace hotpatch::engine {
namespace {

constexpr std::uint8_t kOmit = 0xff;
constexpr std::uint8_t kIndirect = 0x80;
constexpr std::uint8_t kPcRelative = 0x10;
// Where an FDE's pc_begin starts: after its length and its CIE pointer.
constexpr std::size_t kPcBeginAt = 8;

Error bad(const std::string& what) { return make_error(ErrorCode::malformed_patch, "", what); }

std::string at_offset(std::size_t offset) { return " at offset " + hex(offset); }

// An augmentation string as a message can quote it: the object's bytes are anything.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 16)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + (s.size() > 16 ? "...\"" : "\"");
}

// Reads inside one record; every read fails rather than pass the record's end.
class Cursor {
 public:
  Cursor(std::span<const std::uint8_t> bytes, std::size_t pos, std::size_t end) : bytes_(bytes), pos_(pos), end_(end) {}

  std::size_t pos() const { return pos_; }
  bool done() const { return pos_ >= end_; }
  std::optional<std::uint8_t> byte() {
    if (pos_ >= end_) return std::nullopt;
    return bytes_[pos_++];
  }
  bool skip(std::uint64_t n) {
    if (n > end_ - pos_) return false;
    pos_ += n;
    return true;
  }
  std::optional<std::uint64_t> uleb() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      auto b = byte();
      if (!b) return std::nullopt;
      v |= static_cast<std::uint64_t>(*b & 0x7f) << shift;
      if (!(*b & 0x80)) return v;
    }
    return std::nullopt;  // longer than any 64-bit value
  }
  bool skip_leb() { return uleb().has_value(); }
  std::optional<std::string> cstring() {
    const auto* start = bytes_.data() + pos_;
    const auto* nul = static_cast<const std::uint8_t*>(std::memchr(start, 0, end_ - pos_));
    if (nul == nullptr) return std::nullopt;
    std::string s(reinterpret_cast<const char*>(start), static_cast<std::size_t>(nul - start));
    pos_ += s.size() + 1;
    return s;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_;
  std::size_t end_;
};

// libgcc reads any encoded pointer of these without aborting, and a table registered at run time
// has no text or data base: absolute or pc-relative values of a fixed or LEB128 size only.
bool valid_encoding(std::uint8_t enc, bool may_be_indirect) {
  if (enc & kIndirect) {
    if (!may_be_indirect) return false;
    enc &= static_cast<std::uint8_t>(~kIndirect);
  }
  if ((enc & 0x70) != 0 && (enc & 0x70) != kPcRelative) return false;
  switch (enc & 0x0f) {
    case 0x0: case 0x1: case 0x2: case 0x3: case 0x4: case 0x9: case 0xa: case 0xb: case 0xc: return true;
    default: return false;
  }
}

bool skip_encoded(Cursor& c, std::uint8_t enc) {
  switch (enc & 0x0f) {
    case 0x1: case 0x9: return c.skip_leb();
    case 0x2: case 0xa: return c.skip(2);
    case 0x3: case 0xb: return c.skip(4);
    default: return c.skip(8);
  }
}

// What an FDE needs to know of its CIE.
struct CieFacts {
  std::uint8_t fde_encoding = 0;  // absolute pointers when the CIE has no 'R'
  std::uint8_t lsda_encoding = kOmit;
  bool augmented = false;         // 'z': FDEs carry an augmentation length
  int state_depth = 0;            // remember_state left open by the initial instructions
};

// Call frame instructions, by the operands libgcc's interpreter reads; anything else would reach
// its gcc_unreachable (an abort) in the middle of an unwind. remember/restore_state must pair:
// libgcc restores from a null saved state otherwise.
Status check_instructions(Cursor c, std::uint8_t address_encoding, int& depth, std::size_t record) {
  auto truncated = [&] { return bad("a call frame instruction runs past the end of the record" + at_offset(record)); };
  while (!c.done()) {
    const std::uint8_t op = *c.byte();
    bool ok = true;
    switch (op & 0xc0 ? op & 0xc0 : op) {
      case 0x40: case 0xc0: case 0x00: break;                              // advance_loc, restore, nop
      case 0x80: ok = c.skip_leb(); break;                                 // offset
      case 0x01: ok = skip_encoded(c, address_encoding); break;            // set_loc
      case 0x02: ok = c.skip(1); break;
      case 0x03: ok = c.skip(2); break;
      case 0x04: ok = c.skip(4); break;
      case 0x05: case 0x09: case 0x0c: case 0x11: case 0x12: case 0x14: case 0x15: case 0x2f:
        ok = c.skip_leb() && c.skip_leb();
        break;
      case 0x06: case 0x07: case 0x08: case 0x0d: case 0x0e: case 0x13: case 0x2e: ok = c.skip_leb(); break;
      case 0x0a: ++depth; break;                                           // remember_state
      case 0x0b:                                                           // restore_state
        if (depth-- == 0) return bad("a restore_state without remember_state in the record" + at_offset(record));
        break;
      case 0x0f: {                                                         // def_cfa_expression
        auto n = c.uleb();
        ok = n && c.skip(*n);
        break;
      }
      case 0x10: case 0x16: {                                              // expression, val_expression
        ok = c.skip_leb();
        auto n = ok ? c.uleb() : std::nullopt;
        ok = n && c.skip(*n);
        break;
      }
      default:
        return bad("call frame instruction " + hex(op) + " (unknown on x86-64) in the record" + at_offset(record));
    }
    if (!ok) return truncated();
  }
  return {};
}

Result<CieFacts> read_cie(std::span<const std::uint8_t> s, const FrameRecord& r) {
  Cursor c(s, r.offset + 8, r.offset + r.size);
  const std::string where = at_offset(r.offset);
  const auto version = c.byte();
  if (!version || (*version != 1 && *version != 3)) return bad("the CIE" + where + " has a version other than 1 or 3");
  const auto augmentation = c.cstring();
  if (!augmentation) return bad("the CIE" + where + " has no terminated augmentation string");
  const std::string& aug = *augmentation;
  CieFacts f;
  f.augmented = !aug.empty() && aug[0] == 'z';
  const bool letters_known = std::all_of(aug.begin() + (aug.empty() ? 0 : 1), aug.end(), [](char ch) {
    return ch == 'L' || ch == 'P' || ch == 'R' || ch == 'S';
  });
  if (!aug.empty() && (!f.augmented || !letters_known))
    return bad("the CIE" + where + " has augmentation " + quoted(aug) + ", which is not understood");
  if (!c.skip_leb() || !c.skip_leb() || !(*version == 1 ? c.skip(1) : c.skip_leb()))
    return bad("the CIE" + where + " ends inside its header");
  if (f.augmented) {
    const auto length = c.uleb();
    const std::size_t data_at = c.pos();
    if (!length) return bad("the CIE" + where + " ends inside its header");
    for (std::size_t i = 1; i < aug.size(); ++i) {
      if (aug[i] == 'S') continue;
      const auto enc = c.byte();
      const bool indirect_ok = aug[i] == 'P';
      if (!enc || (aug[i] == 'L' ? *enc != kOmit && !valid_encoding(*enc, false) : !valid_encoding(*enc, indirect_ok)))
        return bad("the CIE" + where + " has an unusable pointer encoding for '" + aug[i] + "'");
      if (aug[i] == 'P' && !skip_encoded(c, *enc)) return bad("the CIE" + where + " ends inside its augmentation data");
      if (aug[i] == 'L') f.lsda_encoding = *enc;
      if (aug[i] == 'R') f.fde_encoding = *enc;
    }
    if (c.pos() - data_at != *length)
      return bad("the CIE" + where + "'s augmentation data length does not match its augmentation");
  }
  HOTPATCH_TRY(check_instructions(c, f.fde_encoding, f.state_depth, r.offset));
  return f;
}

Status check_fde(std::span<const std::uint8_t> s, const FrameRecord& r, const CieFacts& cie) {
  Cursor c(s, r.offset + kPcBeginAt, r.offset + r.size);
  const std::string where = at_offset(r.offset);
  if (!skip_encoded(c, cie.fde_encoding) || !skip_encoded(c, cie.fde_encoding & 0x0f))
    return bad("the FDE" + where + " ends inside its address range");
  if (cie.augmented) {
    const auto length = c.uleb();
    const std::size_t data_at = c.pos();
    if (!length || !c.skip(*length)) return bad("the FDE" + where + "'s augmentation data runs past its end");
    Cursor data(s, data_at, c.pos());
    if (cie.lsda_encoding != kOmit && !skip_encoded(data, cie.lsda_encoding))
      return bad("the FDE" + where + "'s augmentation data is too short for its LSDA pointer");
  }
  int depth = cie.state_depth;
  return check_instructions(c, cie.fde_encoding, depth, r.offset);
}

// One record's header: its size and, for an FDE, the offset of the CIE its pointer names.
Result<std::optional<FrameRecord>> read_header(std::span<const std::uint8_t> s, std::size_t at) {
  if (s.size() - at < 4) return bad("the section ends inside the length of a record" + at_offset(at));
  std::uint32_t length = 0;
  std::memcpy(&length, s.data() + at, 4);
  if (length == 0) return std::optional<FrameRecord>{};
  if (length == 0xffffffffu) return bad("the record" + at_offset(at) + " has a 64-bit length, which is not supported");
  if (length < 4 || length > s.size() - at - 4)
    return bad("the record" + at_offset(at) + " has length " + std::to_string(length) + ", which the section cannot hold");
  FrameRecord r{at, std::size_t{length} + 4, false, 0};
  std::uint32_t id = 0;
  std::memcpy(&id, s.data() + at + 4, 4);
  r.cie = id == 0;
  if (!r.cie) {
    if (id > at + 4) return bad("the FDE" + at_offset(at) + " has a CIE pointer before the start of the section");
    r.cie_offset = at + 4 - id;
  }
  return std::optional<FrameRecord>{r};
}

}  // namespace

std::size_t frame_relocation_size(unsigned type) {
  switch (type) {
    case R_X86_64_PC32: return 4;
    case R_X86_64_PC64: case R_X86_64_64: return 8;
    default: return 0;
  }
}

Result<std::vector<FrameRecord>> read_frame_records(std::span<const std::uint8_t> section) {
  std::vector<FrameRecord> records;
  std::map<std::size_t, CieFacts> cies;
  for (std::size_t at = 0; at < section.size();) {
    HOTPATCH_LET(header, read_header(section, at));
    if (!header) break;
    const FrameRecord& r = *header;
    if (r.cie) {
      HOTPATCH_LET(facts, read_cie(section, r));
      cies.emplace(r.offset, facts);
    } else {
      auto cie = cies.find(r.cie_offset);
      if (cie == cies.end()) return bad("the FDE" + at_offset(at) + " has a CIE pointer that names no CIE before it");
      HOTPATCH_TRY(check_fde(section, r, cie->second));
    }
    records.push_back(r);
    at += r.size;
  }
  return records;
}

namespace {

// The relocations inside each record, by record index; refuses one that is in no record or
// touches the length and CIE pointer the copy rewrites.
Result<std::vector<std::vector<Elf64_Rela>>> relocations_by_record(const std::vector<FrameRecord>& records,
                                                                    std::span<const Elf64_Rela> relocations) {
  std::vector<std::vector<Elf64_Rela>> by(records.size());
  for (const auto& rel : relocations) {
    auto it = std::upper_bound(records.begin(), records.end(), rel.r_offset,
                               [](std::uint64_t off, const FrameRecord& r) { return off < r.offset; });
    const std::size_t size = std::max<std::size_t>(frame_relocation_size(ELF64_R_TYPE(rel.r_info)), 1);
    if (it == records.begin()) return bad("a relocation" + at_offset(rel.r_offset) + " lies in no record");
    const FrameRecord& r = *std::prev(it);
    if (rel.r_offset < r.offset + kPcBeginAt || rel.r_offset - r.offset > r.size || r.size - (rel.r_offset - r.offset) < size)
      return bad("a relocation" + at_offset(rel.r_offset) + " lies across a record's header or end");
    by[static_cast<std::size_t>(std::prev(it) - records.begin())].push_back(rel);
  }
  return by;
}

bool all_usable(const std::vector<Elf64_Rela>& rels, const FrameFilter& filter, std::uint64_t skip_offset) {
  return std::all_of(rels.begin(), rels.end(), [&](const Elf64_Rela& rel) {
    return rel.r_offset == skip_offset ||
           (frame_relocation_size(ELF64_R_TYPE(rel.r_info)) != 0 && filter.usable(rel));
  });
}

void append(FilteredFrames& out, std::span<const std::uint8_t> section, const FrameRecord& r,
            const std::vector<Elf64_Rela>& rels) {
  const std::size_t at = out.bytes.size();
  out.bytes.insert(out.bytes.end(), section.begin() + static_cast<std::ptrdiff_t>(r.offset),
                   section.begin() + static_cast<std::ptrdiff_t>(r.offset + r.size));
  for (Elf64_Rela rel : rels) {
    rel.r_offset = rel.r_offset - r.offset + at;
    out.relocations.push_back(rel);
  }
}

}  // namespace

Result<FilteredFrames> filter_frames(std::span<const std::uint8_t> section, const std::vector<FrameRecord>& records,
                                     std::span<const Elf64_Rela> relocations, const FrameFilter& filter) {
  HOTPATCH_LET(rels, relocations_by_record(records, relocations));
  std::map<std::size_t, std::size_t> index_of;  // record offset -> index
  for (std::size_t i = 0; i < records.size(); ++i) index_of[records[i].offset] = i;

  FilteredFrames out;
  std::vector<std::size_t> fdes;
  std::set<std::size_t> cies;  // record indices, in section order
  for (std::size_t i = 0; i < records.size(); ++i) {
    const FrameRecord& r = records[i];
    if (r.cie) continue;
    const std::uint64_t pc_begin = r.offset + kPcBeginAt;
    const auto& own = rels[i];
    auto begin = std::find_if(own.begin(), own.end(), [&](const Elf64_Rela& rel) { return rel.r_offset == pc_begin; });
    if (begin == own.end() || frame_relocation_size(ELF64_R_TYPE(begin->r_info)) == 0 || !filter.covers(*begin)) continue;
    const std::size_t cie = index_of.at(r.cie_offset);
    if (!all_usable(own, filter, pc_begin) || !all_usable(rels[cie], filter, ~0ull)) {
      ++out.fdes_unusable;
      continue;
    }
    fdes.push_back(i);
    cies.insert(cie);
  }
  // CIEs first: an FDE's CIE pointer counts back from the FDE, so its CIE must come before it.
  std::map<std::size_t, std::size_t> cie_at;  // record index -> offset in the copy
  for (std::size_t c : cies) {
    cie_at[c] = out.bytes.size();
    append(out, section, records[c], rels[c]);
  }
  for (std::size_t f : fdes) {
    const std::size_t at = out.bytes.size();
    append(out, section, records[f], rels[f]);
    const auto pointer = static_cast<std::uint32_t>(at + 4 - cie_at.at(index_of.at(records[f].cie_offset)));
    std::memcpy(out.bytes.data() + at + 4, &pointer, 4);
    ++out.fdes_kept;
  }
  return out;
}

}  // namespace hotpatch::engine
