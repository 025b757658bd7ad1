// The subcommands that run in hotpatch-registry, and how `hotpatch` hands them over.
#pragma once

#include <CLI/CLI.hpp>

#include <string_view>

namespace hotpatch::cli {

bool is_network_command(std::string_view name);

/// Lists them in `hotpatch --help` (their own --help comes from hotpatch-registry).
void add_network_command_names(CLI::App& app);

/// Replaces this process with hotpatch-registry, found at ../libexec/hotpatch/ from this program's
/// own directory (the build tree has the same layout), with the same arguments. Returns only when
/// that fails, with the exit code after printing why.
int run_network_command(int argc, char** argv);

}  // namespace hotpatch::cli
