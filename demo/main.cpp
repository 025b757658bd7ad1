// hotpatch-demo: prints greetings from a C function, a C++ member function and a C++ virtual member
// function, and patches them from a signed registry while it runs.
//   u  refresh the registry cache and list the patches found
//   p  patch to the newest versions (refreshing first when the cache is older than its TTL)
//   c  quit
#include "greetings.h"
#include "key_source.hpp"

#include <hotpatch/registry.hpp>
#include <hotpatch/runtime.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

namespace {

struct Options {
  std::string registry = HOTPATCH_DEMO_REGISTRY_URL;
  std::string name = "demo";
  std::string pubkey = HOTPATCH_DEMO_PUBKEY;
  std::string cache = HOTPATCH_DEMO_CACHE_DIR;
  std::optional<std::string> keys;
  int interval_ms = 1000;
  int ttl_seconds = 3600;
};

void print_greetings(const DemoClass& demo, const Greeter& greeter) {
  demo.say_hello(42, "C++ member function");
  greeter.greet(42);
  say_hello_c(42);
  std::printf("\n");
  std::fflush(stdout);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void list_found(const hotpatch::RegistryClient& client) {
  const auto patches = client.available();
  if (patches.empty()) std::printf("  No patches in the registry.\n");
  for (const auto& p : patches)
    for (const auto& symbol : p.replaces)
      std::printf("  Found patch for %s (version: %u): %s\n", symbol.c_str(), p.version, p.about.c_str());
}

void update(hotpatch::RegistryClient& client) {
  std::printf("> u\n  Updating the registry cache\n");
  auto r = client.update();
  if (!r) {
    std::printf("  Update failed: %s\n", r.error().what().c_str());
    return;
  }
  if (r->unreachable) std::printf("  Registry unreachable, using the cache: %s\n", r->unreachable->what().c_str());
  list_found(client);
}

// Patches the registry offers for a module loaded here, newer than what is applied.
std::vector<hotpatch::AvailablePatch> pending(const hotpatch::RegistryClient& client) {
  std::vector<hotpatch::AvailablePatch> out;
  const auto modules = hotpatch::loaded_modules();
  const auto applied = hotpatch::applied_patches();
  for (const auto& p : client.available()) {
    bool loaded = false, newer = true;
    for (const auto& m : modules) loaded |= m.build_id == p.target_build_id;
    for (const auto& a : applied) newer &= !(a.manifest.id == p.id && a.manifest.version >= p.version);
    if (loaded && newer) out.push_back(p);
  }
  return out;
}

void patch(hotpatch::RegistryClient& client, std::chrono::seconds ttl) {
  std::printf("> p\n  Patching now\n");
  const auto checked = client.last_checked();
  if (!checked || std::chrono::system_clock::now() - *checked >= ttl) {
    std::printf("  The registry cache is older than %llds: refreshing first\n", static_cast<long long>(ttl.count()));
    if (auto r = client.update(); !r) std::printf("  Refresh failed: %s\n", r.error().what().c_str());
  }
  for (const auto& p : pending(client))
    for (const auto& symbol : p.replaces) std::printf("  Patching %s to %u\n", symbol.c_str(), p.version);
  auto r = client.apply_available();
  if (!r) {
    std::printf("  Patching failed: %s\n", r.error().what().c_str());
    return;
  }
  for (const auto& p : r->applied)
    for (const auto& symbol : p.replaces) std::printf("  Patched %s to %u\n", symbol.c_str(), p.version);
  for (const auto& f : r->failed)
    std::printf("  Not patched: %s version %u: %s\n", f.patch.id.c_str(), f.patch.version, f.error.what().c_str());
  if (r->applied.empty() && r->failed.empty()) std::printf("  Already at the newest versions.\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"hotpatch demo: greetings that change while the program runs"};
  app.add_option("--registry", o.registry, "Registry URL (file://, http:// or https://)")->capture_default_str();
  app.add_option("--name", o.name, "Registry name to trust")->capture_default_str();
  app.add_option("--pubkey", o.pubkey, "Trusted public key file (minisign format)")->capture_default_str();
  app.add_option("--cache", o.cache, "Cache directory")->capture_default_str();
  app.add_option("--keys", o.keys, "Run these keys in order instead of reading the keyboard, e.g. upc");
  app.add_option("--interval-ms", o.interval_ms, "Time between greetings")->check(CLI::Range(10, 60000))->capture_default_str();
  app.add_option("--ttl", o.ttl_seconds, "Seconds before p refreshes the cache first")->check(CLI::Range(0, 86400))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  hotpatch::set_log_sink({});  // the demo prints what happens itself
  hotpatch::RegistryConfig config;
  config.urls = {o.registry};
  config.registry_name = o.name;
  const std::string key = read_file(o.pubkey);
  if (key.empty()) {
    std::fprintf(stderr, "hotpatch-demo: cannot read the public key %s\n", o.pubkey.c_str());
    return 2;
  }
  config.trusted_keys = {key};
  config.cache_dir = o.cache;
  config.ttl = std::chrono::seconds(o.ttl_seconds);
  auto client = hotpatch::RegistryClient::create(config);
  if (!client) {
    std::fprintf(stderr, "hotpatch-demo: %s\n", client.error().what().c_str());
    return 1;
  }

  std::printf("Press u for updating the registry. Press p for patching. Press c for canceling.\n\n");
  const DemoClass demo;
  std::unique_ptr<Greeter> greeter(make_greeter());
  demo::KeySource keys(o.keys);
  const auto interval = std::chrono::milliseconds(o.interval_ms);
  for (;;) {
    print_greetings(demo, *greeter);
    auto key = keys.next(interval);
    if (o.keys) std::this_thread::sleep_for(interval);
    if (!key) continue;
    if (*key == '\0' || *key == 'c' || *key == 'q') break;
    if (*key == 'u') update(*client);
    else if (*key == 'p') patch(*client, config.ttl);
    else if (*key != '\n' && *key != ' ') std::printf("> %c\n  Unknown key: u updates, p patches, c quits\n", *key);
    std::printf("\n");
  }
  std::printf("Bye.\n");
  return 0;
}
