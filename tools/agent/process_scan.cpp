#include "agent/process_scan.hpp"

#include "attach/remote_memory.hpp"

#include <dirent.h>
#include <elf.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace hotpatch::agent {
namespace {

std::string read_link(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(path, ec);
  return ec ? std::string() : target.string();
}

std::string hex(const unsigned char* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> f)) return std::nullopt;
  }
  try {
    return std::stoull(f);
  } catch (...) {
    return std::nullopt;
  }
}

ProcessScanner::ProcessScanner(std::vector<uid_t> uids, std::vector<std::string> programs)
    : uids_(std::move(uids)), programs_(std::move(programs)) {}

std::optional<std::string> ProcessScanner::build_id_at(pid_t pid, std::uintptr_t base, const std::string& file_key) {
  if (auto it = build_id_of_file_.find(file_key); !file_key.empty() && it != build_id_of_file_.end()) return it->second;
  Elf64_Ehdr eh{};
  if (!attach::read_remote(pid, base, &eh, sizeof eh)) return std::nullopt;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256) {
    if (!file_key.empty()) build_id_of_file_[file_key] = "";
    return std::string();
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  if (!attach::read_remote(pid, base + eh.e_phoff, ph.data(), ph.size() * sizeof(Elf64_Phdr))) return std::nullopt;
  // The mapping at file offset 0 holds the first PT_LOAD: that fixes the load bias.
  std::uintptr_t first_load = UINTPTR_MAX;
  for (const auto& p : ph)
    if (p.p_type == PT_LOAD) first_load = std::min<std::uintptr_t>(first_load, p.p_vaddr & ~std::uintptr_t{0xfff});
  if (first_load == UINTPTR_MAX) return std::nullopt;
  const std::uintptr_t bias = base - first_load;
  std::string id;
  for (const auto& p : ph) {
    if (p.p_type != PT_NOTE || p.p_memsz > 64 * 1024) continue;
    std::vector<unsigned char> notes(p.p_memsz);
    if (!attach::read_remote(pid, bias + p.p_vaddr, notes.data(), notes.size())) continue;
    std::size_t at = 0;
    while (at + sizeof(Elf64_Nhdr) <= notes.size()) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, notes.data() + at, sizeof nh);
      const std::size_t name_at = at + sizeof nh;
      const std::size_t desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
      const std::size_t next = desc_at + ((nh.n_descsz + 3) & ~3u);
      if (next > notes.size() || next <= at) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(notes.data() + name_at, "GNU", 4) == 0) {
        id = hex(notes.data() + desc_at, nh.n_descsz);
        break;
      }
      at = next;
    }
    if (!id.empty()) break;
  }
  if (!file_key.empty()) build_id_of_file_[file_key] = id;
  return id;
}

std::vector<HostProcess> ProcessScanner::scan(const std::set<std::string>& wanted) {
  std::vector<HostProcess> found;
  if (wanted.empty()) return found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  const pid_t self = ::getpid();
  while (dirent* d = ::readdir(proc)) {
    char* end = nullptr;
    const long n = std::strtol(d->d_name, &end, 10);
    if (n <= 0 || *end != '\0' || n == self) continue;
    const pid_t pid = static_cast<pid_t>(n);
    const std::string dir = "/proc/" + std::to_string(pid);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) continue;
    HostProcess p;
    p.pid = pid;
    // The cheaper test first: an agent for a few programs reads nothing more of the others.
    p.program = read_link(dir + "/exe");
    if (p.program.empty()) continue;  // a kernel thread, or gone
    if (!programs_.empty() && std::find(programs_.begin(), programs_.end(), p.program) == programs_.end()) continue;
    // The real uid, not the owner of /proc/P (root for a process that is not dumpable).
    {
      std::ifstream status(dir + "/status");
      for (std::string line; std::getline(status, line);) {
        if (line.starts_with("Uid:")) {
          std::istringstream(line.substr(4)) >> p.uid;
          break;
        }
      }
    }
    if (!uids_.empty() && std::find(uids_.begin(), uids_.end(), p.uid) == uids_.end()) continue;
    auto start = process_start_time(pid);
    if (!start) continue;
    p.start_time = *start;
    std::ifstream maps(dir + "/maps");
    for (std::string line; std::getline(maps, line);) {
      // start-end perms offset dev inode path
      std::istringstream f(line);
      std::string range, perms, offset, dev, inode, path;
      if (!(f >> range >> perms >> offset >> dev >> inode)) continue;
      std::getline(f, path);
      if (inode == "0" || perms.empty() || perms[0] != 'r' || std::stoull(offset, nullptr, 16) != 0) continue;
      const std::uintptr_t base = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      // A file rewritten in place keeps its inode: its change time is part of what names it. Without
      // that (map_files needs privilege), the build-id is read again each time.
      struct stat mapped {};
      std::string key;
      if (::stat((dir + "/map_files/" + range).c_str(), &mapped) == 0) {
        key = dev + " " + inode + " " + std::to_string(mapped.st_ctim.tv_sec) + "." + std::to_string(mapped.st_ctim.tv_nsec);
      }
      auto id = build_id_at(pid, base, key);
      if (id && !id->empty() && wanted.contains(*id)) p.build_ids.insert(*id);
    }
    if (!p.build_ids.empty()) found.push_back(std::move(p));
  }
  ::closedir(proc);
  return found;
}

}  // namespace hotpatch::agent
