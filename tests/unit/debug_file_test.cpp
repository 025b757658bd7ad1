// A stripped program keeps its static functions patchable when its separate debug file is found:
// by the name in .gnu_debuglink next to it, or by build-id under a debug directory. A debug file of
// another build, or one anybody could have written, is not taken, and the refusal says so.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Run {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs the stripped copy `program` on the patch with `debug_dir` as HOTPATCH_DEBUG_DIRECTORY.
Run run(const std::string& program, const std::string& debug_dir) {
  const std::string err_file = ::testing::TempDir() + "/stripped-" + std::to_string(::getpid()) + ".err";
  const std::string cmd = "HOTPATCH_LOG=off HOTPATCH_DEBUG_DIRECTORY='" + debug_dir + "' '" + program + "' '" +
                          HP_STRIPPED_PATCH + "' 2>'" + err_file + "'";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.out += buf.data();
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* e = std::fopen(err_file.c_str(), "r")) {
    while (std::fgets(buf.data(), buf.size(), e) != nullptr) r.err += buf.data();
    std::fclose(e);
  }
  return r;
}

// The build-id as binutils reads it, independent of the runtime's own reader.
std::string build_id_of(const std::string& file) {
  FILE* p = ::popen(("readelf -n '" + file + "'").c_str(), "r");
  if (p == nullptr) return {};
  std::string text;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) text += buf.data();
  ::pclose(p);
  const auto at = text.find("Build ID: ");
  if (at == std::string::npos) return {};
  return text.substr(at + 10, text.find('\n', at) - at - 10);
}

class StrippedProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("hotpatch-debugfile-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    fs::create_directories(dir_ / "debug");
    fs::create_directories(dir_ / "empty");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The stripped program in bin/, and optionally its debug file under `debug_name` beside it.
  std::string place(bool with_debuglink_file) {
    const auto program = dir_ / "bin" / "stripped_target";
    fs::copy_file(HP_STRIPPED_PROGRAM, program, fs::copy_options::overwrite_existing);
    if (with_debuglink_file) fs::copy_file(HP_STRIPPED_DEBUG, dir_ / "bin" / "stripped_target.debug");
    return program.string();
  }

  fs::path dir_;
};

TEST_F(StrippedProgram, DebugFileNamedByTheDebuglinkBesideTheProgramIsUsed) {
  const std::string program = place(true);
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "1042\n");
}

TEST_F(StrippedProgram, DebugFileFoundByBuildIdUnderTheDebugDirectoryIsUsed) {
  const std::string program = place(false);
  const std::string id = build_id_of(program);
  ASSERT_EQ(id.size(), 40u) << id;
  const auto by_id = dir_ / "debug" / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
  fs::create_directories(by_id.parent_path());
  fs::copy_file(HP_STRIPPED_DEBUG, by_id);
  auto r = run(program, (dir_ / "empty").string() + ":" + (dir_ / "debug").string());
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "1042\n");
}

TEST_F(StrippedProgram, WithoutADebugFileTheStaticFunctionIsNotFoundAndTheMessageSaysWhy) {
  const std::string program = place(false);
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("hidden_answer: no function of that name in stripped_target (searched .dynsym (the file has "
                       "no .symtab: it is stripped, and no debug file with its build-id was found)"),
            std::string::npos)
      << r.err;
}

TEST_F(StrippedProgram, DebugFileOfAnotherBuildIsNotTaken) {
  const std::string program = place(false);
  fs::copy_file(HP_OTHER_DEBUG, dir_ / "bin" / "stripped_target.debug");
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("stripped_target.debug: build-id '"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not the module's: the debug file of another build"), std::string::npos) << r.err;
}

TEST_F(StrippedProgram, DebugFileOthersMayWriteIsNotTaken) {
  const std::string program = place(true);
  fs::permissions(dir_ / "bin" / "stripped_target.debug", fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::add);
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("stripped_target.debug: writable by group or others"), std::string::npos) << r.err;
}

TEST_F(StrippedProgram, DirectoryInTheDebugFilesPlaceIsNotTaken) {
  const std::string program = place(false);
  fs::create_directories(dir_ / "bin" / "stripped_target.debug");
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("stripped_target.debug: not a regular file"), std::string::npos) << r.err;
}

// The stripped program itself, under the debug file's name: the build-id matches, the symbols
// are not there.
TEST_F(StrippedProgram, FileOfTheRightBuildWithoutSymbolsIsNotTaken) {
  const std::string program = place(false);
  fs::copy_file(program, dir_ / "bin" / "stripped_target.debug");
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("stripped_target.debug: has no .symtab"), std::string::npos) << r.err;
}

TEST_F(StrippedProgram, DebugFileOfAnotherUserIsNotTaken) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
  const std::string program = place(true);
  const auto debug = dir_ / "bin" / "stripped_target.debug";
  ASSERT_EQ(::chown(debug.c_str(), 65534, 65534), 0);
  auto r = run(program, (dir_ / "empty").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("stripped_target.debug: owned by uid 65534, neither root nor this process's user"),
            std::string::npos)
      << r.err;
}

}  // namespace
