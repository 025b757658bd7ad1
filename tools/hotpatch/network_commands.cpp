#include "hotpatch/network_commands.hpp"

#include "hotpatch/common.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace hotpatch::cli {
namespace {

struct NetworkCommand {
  const char* name;
  const char* about;
};

constexpr NetworkCommand network_commands[] = {
    {"verify", "Verify a registry: signature, key, name, expiry, index hash and every blob"},
    {"list", "List the patches of a registry (after verifying its signature)"},
    {"agent", "Host service: patch every matching process from a signed registry, with health checks"},
};

}  // namespace

bool is_network_command(std::string_view name) {
  for (const auto& c : network_commands) {
    if (name == c.name) return true;
  }
  return false;
}

void add_network_command_names(CLI::App& app) {
  for (const auto& c : network_commands) app.add_subcommand(c.name, c.about);
}

int run_network_command(int /*argc*/, char** argv) {
  std::error_code ec;
  // The kernel's name for this program, not argv[0] (which the caller chooses).
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return report(make_error(ErrorCode::io, "/proc/self/exe", "cannot be read: " + ec.message()));
  const auto helper = (self.parent_path() / "../libexec/hotpatch/hotpatch-registry").lexically_normal();
  ::execv(helper.c_str(), argv);
  const int err = errno;
  return report(make_error(ErrorCode::io, helper.string(),
                           std::string("cannot be run (") + std::strerror(err) + "): `hotpatch " + argv[1] +
                               "` runs in this program, installed with hotpatch"));
}

}  // namespace hotpatch::cli
