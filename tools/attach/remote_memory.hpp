// Reading and writing another process's memory, and the ELF images mapped in it, from that memory
// itself: after a package upgrade the file on disk is not what the process runs, so symbol
// addresses and build-ids are read from the mapped image, never from the path in /proc/P/maps.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace hotpatch::attach {

/// Exactly `size` bytes from `address` in process `pid` (process_vm_readv).
Status read_remote(pid_t pid, std::uintptr_t address, void* out, std::size_t size);
/// A NUL-terminated string of at most `max` bytes.
Result<std::string> read_remote_string(pid_t pid, std::uintptr_t address, std::size_t max = 4096);
Status write_remote(pid_t pid, std::uintptr_t address, const void* data, std::size_t size);

struct RemoteFunction {
  std::string name;
  std::uintptr_t address = 0;
  std::uint64_t size = 0;
};

/// A shared object as it is mapped in another process: its exported functions (.dynsym, with
/// load bias applied) and its build-id.
class RemoteModule {
 public:
  /// `base` is where the ELF header is mapped (the module's mapping at file offset 0).
  static Result<RemoteModule> read(pid_t pid, std::uintptr_t base, std::string path);

  /// The default version of an exported function (`dlopen@@GLIBC_2.34`, not a compat one).
  std::optional<std::uintptr_t> find(std::string_view name) const;
  /// The exported function whose bytes contain `address`, if any.
  const RemoteFunction* containing(std::uintptr_t address) const;

  const std::string& path() const { return path_; }
  const std::string& build_id() const { return build_id_; }  ///< hex, empty without a note

 private:
  std::string path_;
  std::string build_id_;
  std::vector<RemoteFunction> functions_;       // by address
  std::vector<RemoteFunction> default_named_;   // by name, default versions only
};

}  // namespace hotpatch::attach
