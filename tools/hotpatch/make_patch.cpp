// hotpatch make-patch: a patch generated from a fix's diff: the fixed unit's object, linked by the
// runtime next to the target module. --plan prints what it would carry and writes nothing.
#include "hotpatch/common.hpp"
#include "hotpatch/terminal_text.hpp"

#include "make_patch/plan.hpp"

#include <fmt/core.h>

#include <filesystem>
#include <memory>

namespace hotpatch::cli {
namespace {

struct MakePatchCliOptions {
  make_patch::MakePatchOptions analysis;
  std::string id;
  unsigned long long version = 0;
  std::string about;
  std::string output;
  bool plan = false;
};

// Patch ids as the manifest accepts them: 1-128 letters, digits, '.', '_', '-'.
bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

// The analysis's refusals list one item a line (each mismatching function, patch's or the
// compiler's own output): kept as lines, each made safe for a terminal as report() does.
int report_lines(const Error& error) {
  const std::string text = error.what();
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    fmt::print(stderr, "{}{}\n", first ? "hotpatch: " : "  ", printable(std::string_view(text).substr(start, end - start)));
    first = false;
    start = end + 1;
  }
  fmt::print(stderr, "  [{}]\n", error_code_name(error.code));
  return error.code == ErrorCode::invalid_argument ? exit_usage : exit_refused;
}

int run_make_patch(const MakePatchCliOptions& o) {
  if (!valid_id(o.id))
    return report(make_error(ErrorCode::invalid_argument, "--id", "'" + o.id + "' is invalid (1-128 letters, digits, '.', '_', '-')"));
  if (o.version == 0 || o.version > 4294967295ull)
    return report(make_error(ErrorCode::invalid_argument, "--patch-version", "must be from 1 to 4294967295"));
  make_patch::MakePatchOptions analysis = o.analysis;
  if (!o.plan) {
    analysis.output = std::filesystem::absolute(o.output).string();
    analysis.id = o.id;
    analysis.version = static_cast<std::uint32_t>(o.version);
    analysis.about = o.about;
  }
  auto plan = make_patch::make_plan(analysis);
  if (!plan) return report_lines(plan.error());
  if (!o.plan) {
    fmt::print("wrote {}: patch {} version {}\n{}", o.output, o.id, o.version, make_patch::plan_text(*plan));
    return exit_ok;
  }
  fmt::print("patch {} version {}{}\n{}", o.id, o.version, o.about.empty() ? "" : " (" + o.about + ")",
             make_patch::plan_text(*plan));
  return exit_ok;
}

}  // namespace

void add_make_patch(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<MakePatchCliOptions>();
  auto* cmd = app.add_subcommand("make-patch", "Generate a patch from a fix's source diff (--plan: show what it would carry)");
  cmd->add_option("--source", o->analysis.source, "The source tree the running binary was built from (never modified)")->required();
  cmd->add_option("--compile-commands", o->analysis.compile_commands, "compile_commands.json of that build")->required();
  cmd->add_option("--target", o->analysis.target, "The binary or shared library that runs")->required();
  cmd->add_option("--diff", o->analysis.diffs, "The fix, a -p1 unified diff (git diff); repeat for several")->required();
  cmd->add_option("--id", o->id, "Patch id")->required();
  cmd->add_option("--patch-version", o->version, "Patch version (1 or more)")->required();
  cmd->add_option("--about", o->about, "One line saying what the patch fixes");
  auto* out = cmd->add_option("-o,--output", o->output, "Where to write the patch object (.so)");
  auto* plan = cmd->add_flag("--plan", o->plan, "Do the analysis and print what the patch would carry, writing nothing");
  out->excludes(plan);
  plan->excludes(out);
  cmd->add_flag("--keep-scratch", o->analysis.keep_scratch, "Keep the scratch directory (copies, objects) and print its path");
  cmd->callback([o, &run, cmd] {
    run = [o, cmd] {
      if (!o->plan && o->output.empty()) {
        fmt::print(stderr, "hotpatch make-patch: one of -o OUT.so or --plan is required\n{}", cmd->help());
        return static_cast<int>(exit_usage);
      }
      return run_make_patch(*o);
    };
  });
}

}  // namespace hotpatch::cli
