#include "test_support.hpp"

#include "registry/cache_dir.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

namespace hotpatch::registry::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hotpatch-registry-test.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TimePoint base_time() {
  using namespace std::chrono;
  return sys_days{year{2026} / January / 1};
}

TestRegistry::TestRegistry(std::string name)
    : dir_(root_ / "registry"), name_(std::move(name)), key_(minisign::generate_secret_key()) {}

std::uint64_t TestRegistry::publish(const std::string& id, std::uint32_t version, const std::string& build_id,
                                    TimePoint now, std::chrono::seconds validity) {
  std::string file = root_ / ("patch-" + std::to_string(++files_) + ".so");
  // The fake engine recovers id and version from the content; padding makes sizes differ.
  write_text(file, "PATCH " + id + " " + std::to_string(version) + " " + std::string(files_ * 7, 'x') + "\n");
  PublishRequest req;
  req.registry_dir = dir_;
  req.key = key_;
  req.registry_name = name_;
  req.validity = validity;
  req.now = now;
  req.patches.push_back(PublishItem{file, id, version, "fixes " + id, build_id, "demo", {"hello_" + id}});
  auto r = registry::publish(req);
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
  return r ? r->index.version : 0;
}

std::uint64_t TestRegistry::stage(const std::string& id, std::uint32_t percent, TimePoint now) {
  PublishRequest req;
  req.registry_dir = dir_;
  req.key = key_;
  req.now = now;
  req.rollout[id] = percent;
  auto r = registry::publish(req);
  EXPECT_TRUE(r) << (r ? "" : r.error().what());
  return r ? r->index.version : 0;
}

std::string TestRegistry::pointer_text() const { return read_text(dir_ + "/index.minisig"); }

PatchApplier FakeEngine::applier() {
  PatchApplier a;
  a.loaded_build_ids = [this] { return build_ids; };
  a.applied_version = [this](std::string_view id) {
    auto it = applied.find(std::string(id));
    return it == applied.end() ? 0u : it->second;
  };
  a.apply = [this](const VerifiedPatch& patch) -> Status {
    if (on_apply) on_apply(patch);
    std::string bytes(reinterpret_cast<const char*>(patch.bytes.data()), patch.bytes.size());
    received.push_back(patch);
    received.back().bytes = {};
    received_bytes.push_back(bytes);
    std::istringstream in(bytes);
    std::string magic, id;
    std::uint32_t version = 0;
    in >> magic >> id >> version;
    if (magic != "PATCH") return make_error(ErrorCode::malformed_patch, patch.name, "not a test patch");
    if (id != patch.id || version != patch.version) {
      return make_error(ErrorCode::malformed_patch, patch.name,
                        "declares " + id + " v" + std::to_string(version) + ", but it was offered as " + patch.id +
                            " v" + std::to_string(patch.version));
    }
    if (id == fail_id) return make_error(ErrorCode::not_patchable, id, "refused by the fake engine");
    applied[id] = version;
    return {};
  };
  return a;
}

RegistryConfig client_config(const TestRegistry& registry, const TempDir& cache) {
  RegistryConfig c;
  c.urls = {registry.url()};
  c.registry_name = registry.name();
  c.trusted_keys = {registry.public_key_line()};
  c.cache_dir = cache / "cache";
  return c;
}

}  // namespace hotpatch::registry::test
