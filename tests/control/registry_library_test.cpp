// The runtime carries no HTTP stack: a process loads the registry library (and libcurl with it)
// only when it is configured for a registry, and only the registry library of its runtime's own
// build, from the runtime's own directory. A library found elsewhere, of another version, or one
// that others could have written, is refused by name and nothing of it runs.
#include "security_support.hpp"

#include <hotpatch/version.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>
#include <sys/stat.h>

namespace hotpatch::test {
namespace {

namespace fs = std::filesystem;

const std::string registry_file = std::string("libhotpatch-registry.so.") + HOTPATCH_VERSION_STRING;

std::string maps_of(pid_t pid) { return read_text("/proc/" + std::to_string(pid) + "/maps"); }

// The environment of a process configured for a registry (nothing needs to be served: the client
// is made when control starts; fetching waits for the first poll or update).
Env registry_env(const TempDir& dir, const std::string& runtime) {
  auto keys = run({HP_CLI, "keygen", "-s", dir.path() + "/reg.key", "-p", dir.path() + "/reg.pub"});
  EXPECT_EQ(keys.rc, 0) << keys.err;
  Env env = preloaded_env(dir.path() + "/sockets");
  env["LD_PRELOAD"] = runtime;
  env["HOTPATCH_REGISTRY_URL"] = "file://" + dir.path() + "/registry";
  env["HOTPATCH_REGISTRY_NAME"] = "fleet";
  env["HOTPATCH_TRUSTED_KEY"] = dir.path() + "/reg.pub";
  env["HOTPATCH_CACHE_DIR"] = dir.path() + "/cache";
  return env;
}

// A copy of the runtime alone in a directory of its own, for placing registry libraries beside it.
std::string runtime_copy_in(const std::string& dir) {
  fs::create_directories(dir);
  const std::string copy = dir + "/" + fs::path(HP_LIBHOTPATCH).filename().string();
  fs::copy_file(HP_LIBHOTPATCH, copy);
  return copy;
}

TEST(RegistryLibrary, AProcessWithoutARegistryLoadsNoneOfIt) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, preloaded_env(dir.path() + "/sockets"), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "ready\n")) << read_text(out);
  const std::string maps = maps_of(target.pid());
  EXPECT_NE(maps.find("libhotpatch.so"), std::string::npos);
  EXPECT_EQ(maps.find("libhotpatch-registry"), std::string::npos) << maps;
  EXPECT_EQ(maps.find("libcurl"), std::string::npos) << maps;
  EXPECT_EQ(maps.find("libssl"), std::string::npos) << maps;
  EXPECT_EQ(maps.find("libgnutls"), std::string::npos) << maps;
}

TEST(RegistryLibrary, AProcessWithARegistryLoadsItFromTheRuntimesDirectory) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, HP_LIBHOTPATCH), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "ready\n")) << read_text(out);
  ASSERT_TRUE(output_shows(out, "control: serving")) << read_text(out);
  const std::string maps = maps_of(target.pid());
  EXPECT_NE(maps.find(fs::path(HP_LIBHOTPATCH).parent_path().string() + "/" + registry_file), std::string::npos) << maps;
  EXPECT_NE(maps.find("libcurl"), std::string::npos) << maps;
}

TEST(RegistryLibrary, MissingBesideTheRuntimeIsNamedAndTheProcessRunsOn) {
  TempDir dir;
  const std::string runtime = runtime_copy_in(dir.path() + "/lib");
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, runtime), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "control not started")) << read_text(out);
  EXPECT_NE(read_text(out).find("control not started: " + dir.path() + "/lib/" + registry_file +
                                ": cannot be opened (No such file or directory): a process configured for a registry "
                                "needs the registry library of its runtime's build, installed next to it"),
            std::string::npos)
      << read_text(out);
  EXPECT_TRUE(output_shows(out, "ready\n")) << read_text(out);
  EXPECT_EQ(target.wait(std::chrono::milliseconds(200)), -1) << "the process must keep running";
}

TEST(RegistryLibrary, OneOthersCouldHaveWrittenIsRefusedUnloaded) {
  TempDir dir;
  const std::string runtime = runtime_copy_in(dir.path() + "/lib");
  const std::string planted = dir.path() + "/lib/" + registry_file;
  fs::copy_file(fs::path(HP_LIBHOTPATCH).parent_path() / registry_file, planted);
  ASSERT_EQ(::chmod(planted.c_str(), 0664), 0);
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, runtime), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "control not started")) << read_text(out);
  EXPECT_NE(read_text(out).find(planted + ": can be written by its group or by other users"), std::string::npos)
      << read_text(out);
  EXPECT_EQ(maps_of(target.pid()).find(registry_file), std::string::npos);
}

TEST(RegistryLibrary, OneOfAnotherVersionIsRefused) {
  TempDir dir;
  const std::string runtime = runtime_copy_in(dir.path() + "/lib");
  const std::string planted = dir.path() + "/lib/" + registry_file;
  fs::copy_file(HP_OTHER_VERSION_REGISTRY, planted);
  ASSERT_EQ(::chmod(planted.c_str(), 0644), 0);
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, runtime), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "control not started")) << read_text(out);
  EXPECT_NE(read_text(out).find(planted + ": is not the registry library of this runtime (version 0.0.0-other, the "
                                          "runtime is version " HOTPATCH_VERSION_STRING ")"),
            std::string::npos)
      << read_text(out);
  EXPECT_EQ(target.wait(std::chrono::milliseconds(200)), -1) << "the process must keep running";
}

TEST(RegistryLibrary, ASymbolicLinkInItsPlaceIsNotFollowed) {
  TempDir dir;
  const std::string runtime = runtime_copy_in(dir.path() + "/lib");
  const std::string planted = dir.path() + "/lib/" + registry_file;
  fs::create_symlink(fs::path(HP_LIBHOTPATCH).parent_path() / registry_file, planted);
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, runtime), std::nullopt, out);
  ASSERT_TRUE(output_shows(out, "control not started")) << read_text(out);
  EXPECT_NE(read_text(out).find(planted + ": cannot be opened (Too many levels of symbolic links)"), std::string::npos)
      << read_text(out);
}

// Each refusal below leaves the process running without control; the log line says what was found.
std::string refusal_for(const std::function<void(const std::string& planted)>& plant) {
  TempDir dir;
  const std::string runtime = runtime_copy_in(dir.path() + "/lib");
  plant(dir.path() + "/lib/" + registry_file);
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, registry_env(dir, runtime), std::nullopt, out);
  EXPECT_TRUE(output_shows(out, "control not started")) << read_text(out);
  EXPECT_EQ(target.wait(std::chrono::milliseconds(200)), -1) << "the process must keep running";
  const std::string text = read_text(out);
  const auto at = text.find(dir.path() + "/lib/");
  return at == std::string::npos ? text : text.substr(at + dir.path().size() + 5);
}

TEST(RegistryLibrary, ADirectoryInItsPlaceIsRefused) {
  auto text = refusal_for([](const std::string& planted) { fs::create_directory(planted); });
  EXPECT_NE(text.find(registry_file + ": is not a regular file"), std::string::npos) << text;
}

TEST(RegistryLibrary, OneOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "planting a file of another user needs root";
  auto text = refusal_for([](const std::string& planted) {
    fs::copy_file(fs::path(HP_LIBHOTPATCH).parent_path() / registry_file, planted);
    ASSERT_EQ(::chmod(planted.c_str(), 0644), 0);
    ASSERT_EQ(::chown(planted.c_str(), 65534, 65534), 0);
  });
  EXPECT_NE(text.find(registry_file + ": belongs to uid 65534, neither root nor this process's user"), std::string::npos)
      << text;
}

TEST(RegistryLibrary, OneThatIsNoLibraryIsRefused) {
  auto text = refusal_for([](const std::string& planted) {
    std::ofstream(planted) << "not a shared object\n";
    ASSERT_EQ(::chmod(planted.c_str(), 0644), 0);
  });
  EXPECT_NE(text.find(registry_file + ": cannot be loaded: "), std::string::npos) << text;
}

}  // namespace
}  // namespace hotpatch::test
