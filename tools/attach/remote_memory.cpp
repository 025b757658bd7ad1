#include "attach/remote_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <link.h>
#include <sys/uio.h>

namespace hotpatch::attach {
namespace {

std::string hex_address(std::uintptr_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(a));
  return buf;
}

// Reads a bounded number of structures; a remote image is untrusted input, so every count is capped.
template <class T>
Result<std::vector<T>> read_array(pid_t pid, std::uintptr_t address, std::size_t count) {
  std::vector<T> out(count);
  if (count == 0) return out;
  HOTPATCH_TRY(read_remote(pid, address, out.data(), count * sizeof(T)));
  return out;
}

constexpr std::size_t kMaxSymbols = 1 << 20;
constexpr std::size_t kMaxStringTable = 64u << 20;

}  // namespace

Status read_remote(pid_t pid, std::uintptr_t address, void* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    iovec local{static_cast<char*>(out) + done, size - done};
    iovec remote{reinterpret_cast<void*>(address + done), size - done};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
      const int err = n < 0 ? errno : EFAULT;
      return make_error(err == EPERM ? ErrorCode::permission : ErrorCode::io, "process " + std::to_string(pid),
                        "cannot read " + std::to_string(size) + " bytes at " + hex_address(address + done) + ": " +
                            std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::string> read_remote_string(pid_t pid, std::uintptr_t address, std::size_t max) {
  std::string out;
  char chunk[256];
  while (out.size() < max) {
    // Never cross a page in one read: the string may end just before an unmapped page.
    std::size_t room = 4096 - ((address + out.size()) & 4095);
    std::size_t want = std::min({sizeof chunk, room, max - out.size()});
    HOTPATCH_TRY(read_remote(pid, address + out.size(), chunk, want));
    if (const void* nul = std::memchr(chunk, 0, want)) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      return out;
    }
    out.append(chunk, want);
  }
  return out;
}

Status write_remote(pid_t pid, std::uintptr_t address, const void* data, std::size_t size) {
  iovec local{const_cast<void*>(data), size};
  iovec remote{reinterpret_cast<void*>(address), size};
  ssize_t n = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(size)) {
    const int err = n < 0 ? errno : EFAULT;
    return make_error(ErrorCode::io, "process " + std::to_string(pid),
                      "cannot write " + std::to_string(size) + " bytes at " + hex_address(address) + ": " +
                          std::strerror(err));
  }
  return {};
}

Result<RemoteModule> RemoteModule::read(pid_t pid, std::uintptr_t base, std::string path) {
  RemoteModule m;
  m.path_ = std::move(path);
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::malformed_patch, m.path_ + " in process " + std::to_string(pid), why);
  };
  Elf64_Ehdr eh{};
  HOTPATCH_TRY(read_remote(pid, base, &eh, sizeof eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
    return bad("the mapping at " + hex_address(base) + " is not an x86-64 ELF image");
  if (eh.e_phnum == 0 || eh.e_phnum > 128 || eh.e_phentsize != sizeof(Elf64_Phdr)) return bad("implausible program headers");
  HOTPATCH_LET(phdrs, read_array<Elf64_Phdr>(pid, base + eh.e_phoff, eh.e_phnum));

  std::uintptr_t first_load = UINTPTR_MAX;
  for (const auto& ph : phdrs) {
    if (ph.p_type == PT_LOAD) first_load = std::min<std::uintptr_t>(first_load, ph.p_vaddr & ~std::uintptr_t{4095});
  }
  if (first_load == UINTPTR_MAX) return bad("no PT_LOAD segment");
  const std::uintptr_t bias = base - first_load;

  std::uintptr_t symtab = 0, strtab = 0, gnu_hash = 0, sysv_hash = 0, versym = 0;
  std::size_t strsz = 0;
  for (const auto& ph : phdrs) {
    if (ph.p_type == PT_NOTE && ph.p_filesz <= 4096) {
      std::vector<unsigned char> notes(ph.p_filesz);
      if (!read_remote(pid, bias + ph.p_vaddr, notes.data(), notes.size())) continue;
      for (std::size_t at = 0; at + sizeof(Elf64_Nhdr) <= notes.size();) {
        Elf64_Nhdr nh;
        std::memcpy(&nh, notes.data() + at, sizeof nh);
        std::size_t name_at = at + sizeof nh;
        std::size_t desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
        std::size_t next = desc_at + ((nh.n_descsz + 3) & ~3u);
        if (next > notes.size()) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(notes.data() + name_at, "GNU", 4) == 0) {
          static const char digits[] = "0123456789abcdef";
          for (std::size_t i = 0; i < nh.n_descsz; ++i) {
            m.build_id_ += digits[notes[desc_at + i] >> 4];
            m.build_id_ += digits[notes[desc_at + i] & 15];
          }
        }
        at = next;
      }
    }
    if (ph.p_type != PT_DYNAMIC) continue;
    const std::size_t count = std::min<std::size_t>(ph.p_memsz / sizeof(Elf64_Dyn), 512);
    HOTPATCH_LET(dyn, read_array<Elf64_Dyn>(pid, bias + ph.p_vaddr, count));
    // The loader rewrites these entries to absolute addresses in the images it maps; the vDSO's
    // and an unrelocated image's are still relative to the bias.
    auto absolute = [&](std::uint64_t v) { return v < bias ? bias + v : v; };
    for (const auto& d : dyn) {
      if (d.d_tag == DT_NULL) break;
      switch (d.d_tag) {
        case DT_SYMTAB: symtab = absolute(d.d_un.d_ptr); break;
        case DT_STRTAB: strtab = absolute(d.d_un.d_ptr); break;
        case DT_STRSZ: strsz = d.d_un.d_val; break;
        case DT_GNU_HASH: gnu_hash = absolute(d.d_un.d_ptr); break;
        case DT_HASH: sysv_hash = absolute(d.d_un.d_ptr); break;
        case DT_VERSYM: versym = absolute(d.d_un.d_ptr); break;
        default: break;
      }
    }
  }
  if (symtab == 0 || strtab == 0 || strsz == 0 || strsz > kMaxStringTable) return bad("no usable dynamic symbol table");

  // The number of symbols: DT_HASH says it; with only DT_GNU_HASH, the highest chain's end does.
  std::size_t nsyms = 0;
  if (sysv_hash != 0) {
    std::uint32_t head[2];
    HOTPATCH_TRY(read_remote(pid, sysv_hash, head, sizeof head));
    nsyms = head[1];
  } else if (gnu_hash != 0) {
    std::uint32_t head[4];
    HOTPATCH_TRY(read_remote(pid, gnu_hash, head, sizeof head));
    const std::uint32_t nbuckets = head[0], symoffset = head[1], bloom_size = head[2];
    if (nbuckets > kMaxSymbols || bloom_size > kMaxSymbols) return bad("implausible GNU hash table");
    const std::uintptr_t buckets_at = gnu_hash + 16 + std::uintptr_t{bloom_size} * 8;
    HOTPATCH_LET(buckets, read_array<std::uint32_t>(pid, buckets_at, nbuckets));
    std::uint32_t last = 0;
    for (auto b : buckets) last = std::max(last, b);
    if (last >= symoffset) {
      const std::uintptr_t chains_at = buckets_at + std::uintptr_t{nbuckets} * 4;
      for (std::uint32_t i = last;; ++i) {
        if (i - symoffset > kMaxSymbols) return bad("implausible GNU hash chain");
        std::uint32_t h = 0;
        HOTPATCH_TRY(read_remote(pid, chains_at + std::uintptr_t{i - symoffset} * 4, &h, 4));
        if (h & 1u) {
          nsyms = i + 1;
          break;
        }
      }
    } else {
      nsyms = symoffset;
    }
  }
  if (nsyms == 0 || nsyms > kMaxSymbols) return bad("no dynamic symbols");

  HOTPATCH_LET(syms, read_array<Elf64_Sym>(pid, symtab, nsyms));
  std::vector<char> strings(strsz);
  HOTPATCH_TRY(read_remote(pid, strtab, strings.data(), strings.size()));
  std::vector<std::uint16_t> versions;
  if (versym != 0) {
    HOTPATCH_LET(v, read_array<std::uint16_t>(pid, versym, nsyms));
    versions = std::move(v);
  }
  for (std::size_t i = 0; i < nsyms; ++i) {
    const auto& s = syms[i];
    const int type = ELF64_ST_TYPE(s.st_info);
    if (s.st_shndx == SHN_UNDEF || s.st_name >= strsz) continue;
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    RemoteFunction f;
    f.name.assign(strings.data() + s.st_name, strnlen(strings.data() + s.st_name, strsz - s.st_name));
    f.address = bias + s.st_value;
    f.size = s.st_size;
    const bool hidden_version = !versions.empty() && (versions[i] & 0x8000) != 0;
    if (!hidden_version && type == STT_FUNC) m.default_named_.push_back(f);
    m.functions_.push_back(std::move(f));
  }
  std::sort(m.functions_.begin(), m.functions_.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
  std::sort(m.default_named_.begin(), m.default_named_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return m;
}

std::optional<std::uintptr_t> RemoteModule::find(std::string_view name) const {
  auto it = std::lower_bound(default_named_.begin(), default_named_.end(), name,
                             [](const RemoteFunction& f, std::string_view n) { return f.name < n; });
  if (it == default_named_.end() || it->name != name) return std::nullopt;
  return it->address;
}

const RemoteFunction* RemoteModule::containing(std::uintptr_t address) const {
  auto it = std::upper_bound(functions_.begin(), functions_.end(), address,
                             [](std::uintptr_t a, const RemoteFunction& f) { return a < f.address; });
  if (it == functions_.begin()) return nullptr;
  --it;
  // Aliases share an address; any of them names the function.
  return address < it->address + std::max<std::uint64_t>(it->size, 1) ? &*it : nullptr;
}

}  // namespace hotpatch::attach
