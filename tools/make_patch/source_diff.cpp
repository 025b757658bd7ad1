#include "make_patch/source_diff.hpp"

#include "make_patch/process.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace hotpatch::make_patch {
namespace {

// "a/src/x.c\t2024-01-01 ..." -> "src/x.c"; git quotes names with unusual characters in C style.
std::string diff_path(std::string text) {
  if (const auto tab = text.find('\t'); tab != std::string::npos) text.resize(tab);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    std::string unquoted;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
      if (text[i] == '\\' && i + 2 < text.size()) {
        ++i;
        const char c = text[i];
        unquoted += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        unquoted += text[i];
      }
    }
    text = unquoted;
  }
  if (text == "/dev/null") return {};
  const auto slash = text.find('/');
  return slash == std::string::npos ? std::string{} : text.substr(slash + 1);
}

}  // namespace

std::vector<std::string> touched_files(const std::string& diff_text) {
  std::set<std::string> files;
  std::istringstream in(diff_text);
  std::string line;
  while (std::getline(in, line)) {
    std::string path;
    if (line.rfind("--- ", 0) == 0 || line.rfind("+++ ", 0) == 0) path = diff_path(line.substr(4));
    // A pure rename has no ---/+++ lines; its names carry no a/ b/ prefix.
    else if (line.rfind("rename from ", 0) == 0) path = line.substr(12);
    else if (line.rfind("rename to ", 0) == 0) path = line.substr(10);
    if (!path.empty()) files.insert(path);
  }
  return {files.begin(), files.end()};
}

Status apply_diffs(const std::string& tree, const std::vector<std::string>& diff_paths) {
  for (const auto& diff : diff_paths) {
    for (const bool dry_run : {true, false}) {
      std::vector<std::string> argv{"patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-i", diff};
      if (dry_run) argv.push_back("--dry-run");
      HOTPATCH_LET(r, run_process(argv, tree));
      if (r.ok()) continue;
      std::string output = r.output;
      while (!output.empty() && output.back() == '\n') output.pop_back();
      return make_error(ErrorCode::invalid_argument, diff,
                        "does not apply to the source tree (patch -p1 --forward exited with " +
                            std::to_string(r.exit_code) + "):\n" + output);
    }
  }
  return {};
}

}  // namespace hotpatch::make_patch
