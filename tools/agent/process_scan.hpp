// The processes on this host a patch is for: every process of the configured users and programs
// whose mapped modules include the patch's target build-id. Build-ids are read from each process's
// memory (the file on disk may have been replaced since it was mapped), once per mapped file.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::agent {

struct HostProcess {
  pid_t pid = 0;
  uid_t uid = 0;
  std::uint64_t start_time = 0;  ///< clock ticks after boot: with the pid, who the process is
  std::string program;           ///< /proc/P/exe
  std::set<std::string> build_ids;
};

/// When process `pid` started (field 22 of /proc/P/stat), or nullopt when it is gone.
std::optional<std::uint64_t> process_start_time(pid_t pid);

class ProcessScanner {
 public:
  /// Empty lists mean every user and every program.
  ProcessScanner(std::vector<uid_t> uids, std::vector<std::string> programs);

  /// The processes (other than this one) that have mapped a module with one of `wanted`.
  std::vector<HostProcess> scan(const std::set<std::string>& wanted);

 private:
  std::optional<std::string> build_id_at(pid_t pid, std::uintptr_t base, const std::string& file_key);

  std::vector<uid_t> uids_;
  std::vector<std::string> programs_;
  std::map<std::string, std::string> build_id_of_file_;  // "dev inode" of a mapped file -> its build-id
};

}  // namespace hotpatch::agent
