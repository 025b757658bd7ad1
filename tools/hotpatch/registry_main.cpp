// hotpatch-registry: the commands of `hotpatch` that read a registry over the network (verify,
// list, agent). `hotpatch verify ...` runs this program with the same arguments; it is not meant to be
// run by hand, but works the same when it is.
#include "hotpatch/common.hpp"

#include <hotpatch/version.h>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"hotpatch: verify and list signed patch registries.", "hotpatch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hotpatch " HOTPATCH_VERSION_STRING);
  hotpatch::cli::Subcommand run;
  hotpatch::cli::add_verify(app, run);
  hotpatch::cli::add_list(app, run);
  hotpatch::cli::add_agent(app, run);
  return hotpatch::cli::parse_and_run(app, argc, argv, run);
}
