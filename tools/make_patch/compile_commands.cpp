#include "make_patch/compile_commands.hpp"

#include "make_patch/scratch_dir.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <fstream>
#include <sstream>
#include <string_view>

namespace hotpatch::make_patch {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

template <std::size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& list) {
  for (auto item : list)
    if (s == item) return true;
  return false;
}

// Options whose value is a path, given as the next word or joined to the option.
constexpr std::array<std::string_view, 12> path_options{"-I", "-isystem", "-iquote", "-idirafter", "-include",
                                                         "-imacros", "-iprefix", "-iwithprefix",
                                                         "-iwithprefixbefore", "-isysroot", "--sysroot", "-B"};
constexpr std::array<std::string_view, 6> joined_path_options{"-I", "-isystem", "-iquote", "-idirafter", "--sysroot=", "-B"};
// Options whose next word is a value that is not a path: it must not be taken for an input file.
constexpr std::array<std::string_view, 14> value_options{"-x", "-D", "-U", "-Xpreprocessor", "-Xassembler",
                                                          "-Xlinker", "-aux-info", "-dumpbase", "-dumpbase-ext",
                                                          "-l", "-T", "-u", "-z", "--param"};
// Outputs and what only writes files: the caller adds its own output, and a dependency file or
// saved temporary would land in the user's build directory.
constexpr std::array<std::string_view, 4> dropped_with_value{"-o", "-MF", "-MT", "-MQ"};
constexpr std::array<std::string_view, 10> dropped{"-c", "-S", "-E", "-M", "-MM", "-MD", "-MMD", "-MP", "-MG", "-save-temps"};
constexpr std::array<std::string_view, 3> prefix_maps{"-ffile-prefix-map=", "-fdebug-prefix-map=", "-fmacro-prefix-map="};

struct Rewriter {
  const CompileCommand& command;
  const ScratchLayout& layout;
  bool cwd_is_copy = false;

  // In the tree: the copy (kept relative when it stays inside the copied tree from the copied
  // directory, so __FILE__ reads as it did). Out of the tree: its original place.
  std::string path(const std::string& p) const {
    const std::string abs = normal_path(p, command.directory);
    if (!is_under(abs, layout.source)) return p.empty() || p.front() == '/' ? p : abs;
    if (cwd_is_copy && p.front() != '/') return p;
    const std::string rel = relative_to(abs, layout.source);
    return rel.empty() ? layout.copy : layout.copy + "/" + rel;
  }
};

}  // namespace

Result<std::vector<std::string>> split_command_line(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\\') {
      if (i + 1 < line.size()) word += line[++i];
      in_word = true;
    } else if (c == '\'') {
      const auto end = line.find('\'', i + 1);
      if (end == std::string::npos) return make_error(ErrorCode::parse, line, "unterminated ' quote");
      word += line.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        // Inside double quotes a backslash escapes only these.
        if (line[j] == '\\' && j + 1 < line.size() && std::string_view("\"\\$`\n").find(line[j + 1]) != std::string_view::npos)
          ++j;
        word += line[j];
      }
      if (j >= line.size()) return make_error(ErrorCode::parse, line, "unterminated \" quote");
      i = j;
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<std::vector<CompileCommand>> read_compile_commands(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::io, path, "cannot read the compile commands");
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.is_array())
    return make_error(ErrorCode::parse, path, "is not a compile_commands.json (a JSON array of entries)");
  std::vector<CompileCommand> out;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const auto& e = json[i];
    const std::string where = path + " entry " + std::to_string(i);
    auto text = [&](const char* key) -> std::string {
      return e.is_object() && e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string{};
    };
    CompileCommand c;
    c.directory = text("directory");
    const std::string file = text("file");
    if (c.directory.empty() || c.directory.front() != '/' || file.empty())
      return make_error(ErrorCode::parse, where, "needs an absolute \"directory\" and a \"file\"");
    c.directory = normal_path(c.directory, "/");
    c.file = normal_path(file, c.directory);
    if (e.contains("arguments") && e["arguments"].is_array()) {
      for (const auto& a : e["arguments"]) {
        if (!a.is_string()) return make_error(ErrorCode::parse, where, "\"arguments\" holds something other than strings");
        c.arguments.push_back(a.get<std::string>());
      }
    } else if (const std::string line = text("command"); !line.empty()) {
      auto words = split_command_line(line);
      if (!words) return make_error(ErrorCode::parse, where, "\"command\": " + words.error().message);
      c.arguments = std::move(*words);
    }
    if (c.arguments.empty()) return make_error(ErrorCode::parse, where, "has neither \"arguments\" nor \"command\"");
    out.push_back(std::move(c));
  }
  if (out.empty()) return make_error(ErrorCode::parse, path, "records no compile commands");
  return out;
}

const std::vector<std::string>& analysis_flags() {
  static const std::vector<std::string> flags{"-ffunction-sections", "-fdata-sections", "-g"};
  return flags;
}

UnitCommand rewrite_command(const CompileCommand& command, const ScratchLayout& layout,
                            const std::vector<std::string>& extra_flags) {
  Rewriter rw{command, layout, is_under(command.directory, layout.source)};
  UnitCommand out;
  out.cwd = rw.cwd_is_copy ? rw.path(command.directory) : command.directory;
  const auto& in = command.arguments;
  out.argv.push_back(in[0].find('/') != std::string::npos ? rw.path(in[0]) : in[0]);
  // First, so that the build's own maps (given later) take precedence: gcc tries the last given first.
  out.argv.push_back("-ffile-prefix-map=" + layout.copy + "=" + layout.source);
  for (std::size_t i = 1; i < in.size(); ++i) {
    const std::string& a = in[i];
    const bool has_next = i + 1 < in.size();
    if (one_of(a, dropped_with_value)) {
      ++i;
      continue;
    }
    if (one_of(a, dropped) || starts_with(a, "-save-temps=") || starts_with(a, "-Wp,-MD,") || starts_with(a, "-Wp,-MMD,") ||
        (a.size() > 2 && (starts_with(a, "-o") || starts_with(a, "-MF") || starts_with(a, "-MT") || starts_with(a, "-MQ"))))
      continue;
    if (a == "-dumpdir") {
      ++i;
      continue;
    }
    if (a == "-flto" || starts_with(a, "-flto=")) out.lto = true;
    if (a == "-fno-lto") out.lto = false;
    if (one_of(a, path_options) && has_next) {
      out.argv.push_back(a);
      out.argv.push_back(rw.path(in[++i]));
      continue;
    }
    if (one_of(a, value_options) && has_next) {
      out.argv.push_back(a);
      out.argv.push_back(in[++i]);
      continue;
    }
    bool done = false;
    for (auto opt : joined_path_options) {
      if (a.size() > opt.size() && starts_with(a, opt)) {
        out.argv.push_back(std::string(opt) + rw.path(a.substr(opt.size())));
        done = true;
        break;
      }
    }
    for (auto opt : prefix_maps) {
      if (done || !starts_with(a, opt)) continue;
      const auto eq = a.find('=', opt.size());
      const std::string old = a.substr(opt.size(), eq == std::string::npos ? std::string::npos : eq - opt.size());
      out.argv.push_back(std::string(opt) + rw.path(old) + (eq == std::string::npos ? "" : a.substr(eq)));
      done = true;
    }
    if (done) continue;
    if (!a.empty() && a.front() != '-') {
      const std::string rewritten = rw.path(a);
      if (normal_path(a, command.directory) == command.file) out.file = rewritten;
      out.argv.push_back(rewritten);
      continue;
    }
    out.argv.push_back(a);
  }
  if (out.file.empty()) {
    // The entry's file is not spelled out among the arguments (a wrapper's recording): add it.
    out.file = rw.path(command.file);
    out.argv.push_back(out.file);
  }
  for (const auto& f : extra_flags) out.argv.push_back(f);
  return out;
}

}  // namespace hotpatch::make_patch
