// What the subcommands that read a registry over the network (verify, list) share. They are built
// into hotpatch-registry, the one program of the tool that links libcurl.
#pragma once

#include "hotpatch/common.hpp"
#include "registry/registry_reader.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace hotpatch::cli {

/// Options of the subcommands that read a registry (verify, list).
struct RegistryOptions {
  std::string location;  ///< URL or directory
  std::vector<std::string> pubkeys;
  std::string name;
  std::size_t max_index_bytes = 4 * 1024 * 1024;
  double timeout_seconds = 60;
  void add_to(CLI::App& cmd);
};

struct VerifiedRegistry {
  std::string url;
  registry::RegistryRead read;  ///< with index set
};

/// Fetches index.minisig and the index it names and runs every check a client runs, without any
/// remembered state (first contact: no rollback check, expiry is checked).
Result<VerifiedRegistry> read_verified(const RegistryOptions& options);

registry::FetchLimits fetch_limits(const RegistryOptions& options, std::size_t cap);

}  // namespace hotpatch::cli
