// What every subcommand shares: exit codes, error output, key loading.
#pragma once

#include "registry/minisign.hpp"

#include <hotpatch/error.hpp>

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace hotpatch::cli {

enum Exit : int { exit_ok = 0, exit_refused = 1, exit_usage = 2 };

/// Prints "hotpatch: <what> [code]" to stderr and returns the exit code for the error: usage for
/// invalid arguments, refused for everything else (verification, I/O, network).
int report(const Error& error);

/// Each --pubkey is a .pub file path or the base64 key line itself.
Result<std::vector<registry::minisign::PublicKey>> load_public_keys(const std::vector<std::string>& args);

using Subcommand = std::function<int()>;

/// Parses the command line, then runs the subcommand it chose; a parse error or --help prints what
/// CLI11 says and gives exit_usage or exit_ok.
int parse_and_run(CLI::App& app, int argc, char** argv, const Subcommand& run);

void add_keygen(CLI::App& app, Subcommand& run);
void add_sign(CLI::App& app, Subcommand& run);
void add_publish(CLI::App& app, Subcommand& run);
void add_verify(CLI::App& app, Subcommand& run);
void add_list(CLI::App& app, Subcommand& run);
void add_inspect(CLI::App& app, Subcommand& run);
void add_ps(CLI::App& app, Subcommand& run);
void add_status(CLI::App& app, Subcommand& run);
void add_apply(CLI::App& app, Subcommand& run);
void add_update(CLI::App& app, Subcommand& run);
void add_revert(CLI::App& app, Subcommand& run);
void add_attach(CLI::App& app, Subcommand& run);
void add_make_patch(CLI::App& app, Subcommand& run);
void add_agent(CLI::App& app, Subcommand& run);

}  // namespace hotpatch::cli
