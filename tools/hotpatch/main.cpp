// hotpatch: the operator's tool. Exit codes: 0 ok, 1 refused or verification failure, 2 usage error.
#include "hotpatch/common.hpp"

#include <hotpatch/control.hpp>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  // The tool links libhotpatch: it must not serve a control socket of its own.
  hotpatch::disable_control();
  CLI::App app{"hotpatch: make signing keys, publish patches to a signed registry, verify and list\n"
               "registries, inspect patch objects, and patch running processes."};
  app.require_subcommand(1);
  hotpatch::cli::Subcommand run;
  hotpatch::cli::add_keygen(app, run);
  hotpatch::cli::add_sign(app, run);
  hotpatch::cli::add_publish(app, run);
  hotpatch::cli::add_verify(app, run);
  hotpatch::cli::add_list(app, run);
  hotpatch::cli::add_inspect(app, run);
  hotpatch::cli::add_ps(app, run);
  hotpatch::cli::add_status(app, run);
  hotpatch::cli::add_apply(app, run);
  hotpatch::cli::add_update(app, run);
  hotpatch::cli::add_revert(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? hotpatch::cli::exit_ok : hotpatch::cli::exit_usage;
  }
  return run ? run() : hotpatch::cli::exit_usage;
}
