#include "make_patch/unit_build.hpp"

#include "make_patch/process.hpp"
#include "make_patch/scratch_dir.hpp"

#include <fstream>
#include <set>

namespace hotpatch::make_patch {
namespace {

Status run_compiler(const UnitCommand& unit, const char* mode, const std::string& output, const std::string& name,
                    const char* side, const char* doing) {
  std::vector<std::string> argv = unit.argv;
  argv.push_back(mode);
  argv.push_back("-o");
  argv.push_back(output);
  HOTPATCH_LET(r, run_process(argv, unit.cwd));
  if (r.ok()) return {};
  std::string said = r.output;
  while (!said.empty() && said.back() == '\n') said.pop_back();
  // The recorded command failing on the original copy is the build's problem, not the fix's; either
  // way no patch can be made from this build.
  return make_error(ErrorCode::not_patchable, name + " (" + side + ")",
                    std::string(doing) + " failed (exit " + std::to_string(r.exit_code) + "): " + shell_quote(argv) +
                        " in " + unit.cwd + (said.empty() ? "" : ":\n" + said));
}

// `# 12 "path" 1 3` -> path; `#line 12 "path"` too.
bool line_marker(const std::string& line, std::string& file) {
  std::size_t i = 1;
  if (line.size() < 3 || line[0] != '#') return false;
  if (line.compare(0, 5, "#line") == 0) i = 5;
  while (i < line.size() && line[i] == ' ') ++i;
  if (i >= line.size() || line[i] < '0' || line[i] > '9') return false;
  const auto open = line.find('"', i);
  const auto close = open == std::string::npos ? open : line.rfind('"');
  if (open != std::string::npos && close > open) file = line.substr(open + 1, close - open - 1);
  return true;
}

}  // namespace

Status compile_unit(const UnitCommand& unit, const std::string& output, const std::string& name, const char* side) {
  return run_compiler(unit, "-c", output, name, side, "compiling");
}

Status preprocess_unit(const UnitCommand& unit, const std::string& output, const std::string& name, const char* side) {
  return run_compiler(unit, "-E", output, name, side, "preprocessing");
}

Result<Preprocessed> read_preprocessed(const std::string& path, const std::string& cwd) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::io, path, "cannot read the preprocessed unit");
  Preprocessed out;
  std::set<std::string> seen;
  std::string line, file;
  while (std::getline(in, line)) {
    if (line_marker(line, file)) {
      if (!file.empty() && file.front() != '<' && seen.insert(file).second) out.files.push_back(normal_path(file, cwd));
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.text += line;
    out.text += '\n';
  }
  return out;
}

}  // namespace hotpatch::make_patch
