// hotpatch: the operator's tool. Exit codes: 0 ok, 1 refused or verification failure, 2 usage error.
#include "hotpatch/common.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"hotpatch: make signing keys, publish patches to a signed registry, verify and list\n"
               "registries, and inspect patch objects."};
  app.require_subcommand(1);
  hotpatch::cli::Subcommand run;
  hotpatch::cli::add_keygen(app, run);
  hotpatch::cli::add_publish(app, run);
  hotpatch::cli::add_verify(app, run);
  hotpatch::cli::add_list(app, run);
  hotpatch::cli::add_inspect(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? hotpatch::cli::exit_ok : hotpatch::cli::exit_usage;
  }
  return run ? run() : hotpatch::cli::exit_usage;
}
