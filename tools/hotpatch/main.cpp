// hotpatch: the operator's tool. Exit codes: 0 ok, 1 refused or verification failure, 2 usage error.
// The commands that read a registry over the network (verify, list) are the one part that needs an
// HTTP stack: they run in hotpatch-registry (registry_main.cpp), which this program hands them to,
// so the commands that patch processes start without loading libcurl and its dependencies.
#include "hotpatch/common.hpp"
#include "hotpatch/network_commands.hpp"

#include <hotpatch/version.h>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  if (argc > 1 && hotpatch::cli::is_network_command(argv[1])) return hotpatch::cli::run_network_command(argc, argv);
  CLI::App app{"hotpatch: make signing keys, publish patches to a signed registry, verify and list\n"
               "registries, inspect patch objects, and patch running processes."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hotpatch " HOTPATCH_VERSION_STRING);
  hotpatch::cli::Subcommand run;
  hotpatch::cli::add_keygen(app, run);
  hotpatch::cli::add_sign(app, run);
  hotpatch::cli::add_publish(app, run);
  hotpatch::cli::add_network_command_names(app);
  hotpatch::cli::add_inspect(app, run);
  hotpatch::cli::add_ps(app, run);
  hotpatch::cli::add_status(app, run);
  hotpatch::cli::add_apply(app, run);
  hotpatch::cli::add_update(app, run);
  hotpatch::cli::add_revert(app, run);
  hotpatch::cli::add_attach(app, run);
  hotpatch::cli::add_make_patch(app, run);
  return hotpatch::cli::parse_and_run(app, argc, argv, run);
}
