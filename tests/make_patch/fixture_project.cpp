#include "fixture_project.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hotpatch::make_patch::testing {
namespace {

namespace fs = std::filesystem;

// The units of `prog`, and one of another program of the project (tools/tool.c).
const std::vector<std::string> units{"calc.c", "util.c", "other.c", "a/dup.c", "b/dup.c",
                                     "server.c", "shapes.cpp", "main.c", "tools/tool.c"};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (c == ' ') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

}  // namespace

bool shell(const std::string& command, std::string* output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return false;
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  const int status = ::pclose(p);
  if (output != nullptr) *output = text;
  return status == 0;
}

Project::Project(Project&& other) noexcept
    : root(std::move(other.root)), src(std::move(other.src)), build(std::move(other.build)),
      commands(std::move(other.commands)), prog(std::move(other.prog)) {
  other.root.clear();
}

Project::~Project() {
  std::error_code ec;
  if (!root.empty()) fs::remove_all(root, ec);
}

std::string fixture_diff(const std::string& name) { return std::string(HP_MAKE_PATCH_FIXTURES) + "/" + name + ".diff"; }

Project build_project(const ProjectOptions& o) {
  Project p;
  char pattern[] = "/tmp/hp-make-patch-test.XXXXXX";
  p.root = ::mkdtemp(pattern);
  p.src = p.root + "/src";
  p.build = o.out_of_tree ? p.root + "/build" : p.src + "/obj";
  fs::copy(std::string(HP_MAKE_PATCH_FIXTURES) + "/project", p.src, fs::copy_options::recursive);
  fs::create_directories(p.build);
  if (!o.apply_first.empty()) {
    std::string out;
    EXPECT_TRUE(shell("cd " + p.src + " && patch -s -p1 -i " + o.apply_first, &out)) << out;
  }
  // Out of tree, as CMake records: absolute paths, run in the build directory. In the tree, as a
  // make-based build recorded by bear: relative paths, run in the tree.
  const std::string dir = o.out_of_tree ? p.build : p.src;
  std::string json = "[\n";
  std::string objects;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const std::string& u = units[i];
    const std::string compiler = u.ends_with(".cpp") ? "g++" : "gcc";
    const std::string obj = o.out_of_tree ? std::to_string(i) + ".o" : "obj/" + std::to_string(i) + ".o";
    const std::string file = o.out_of_tree ? p.src + "/" + u : u;
    const std::string include = o.out_of_tree ? "-I" + p.src + "/include" : "-I include";
    const std::string cmd = compiler + " " + o.flags + " " + include + " -MD -MF " + obj + ".d -o " + obj + " -c " + file;
    std::string out;
    EXPECT_TRUE(shell("cd " + dir + " && " + cmd, &out)) << cmd << "\n" << out;
    if (u != "tools/tool.c" && !(o.shared_library && u == "main.c")) objects += " " + dir + "/" + obj;
    json += std::string(i == 0 ? "" : ",\n") + "{\"directory\": " + json_string(dir) + ", \"file\": " + json_string(file);
    if (o.arguments_form) {
      json += ", \"arguments\": [";
      const auto ws = words(cmd);
      for (std::size_t k = 0; k < ws.size(); ++k) json += (k == 0 ? "" : ", ") + json_string(ws[k]);
      json += "]";
    } else {
      json += ", \"command\": " + json_string(cmd);
    }
    json += ", \"output\": " + json_string(obj) + "}";
  }
  json += "\n]\n";
  p.commands = p.root + "/compile_commands.json";
  std::ofstream(p.commands) << json;
  p.prog = p.root + (o.shared_library ? "/libprog.so" : "/prog");
  std::string out;
  EXPECT_TRUE(shell("g++ " + o.flags + (o.shared_library ? " -shared" : "") + " -o " + p.prog + objects, &out)) << out;
  return p;
}

std::vector<std::string> snapshot(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st{};
    ::lstat(e.path().c_str(), &st);
    out.push_back(e.path().string() + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hotpatch::make_patch::testing
