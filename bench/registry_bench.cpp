// Registry costs: verifying and parsing a signed index of 10,000 patch entries (what a client does
// when the registry changed), and an update() poll answered 304 Not Modified (what it does the rest
// of the time), over HTTP on loopback.
#include "registry/encoding.hpp"
#include "registry/index_format.hpp"
#include "registry/minisign.hpp"
#include "registry/publisher.hpp"
#include "registry/sha256.hpp"
#include "registry/trust_check.hpp"
#include "test_http_server.hpp"

#include <hotpatch/registry.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace hotpatch;
using namespace hotpatch::registry;
using namespace std::chrono_literals;

constexpr int kEntries = 10'000;

struct SignedIndex {
  minisign::SecretKey key = minisign::generate_secret_key();
  std::string index_text;
  std::string minisig_text;
  TimePoint now = std::chrono::system_clock::now();
};

SignedIndex make_signed_index() {
  SignedIndex s;
  Index index;
  index.registry = "bench";
  index.version = 7;
  index.published = std::chrono::time_point_cast<std::chrono::seconds>(s.now);
  index.expires = index.published + 24h;
  for (int i = 0; i < kEntries; ++i) {
    IndexEntry e;
    e.id = "fix-" + std::to_string(i);
    e.patch_version = 1 + i % 5;
    e.about = "Fixes issue " + std::to_string(i) + " in the request handler";
    e.target_build_id = sha256_hex(as_bytes("build" + std::to_string(i % 50))).substr(0, 40);
    e.target_module = "server-" + std::to_string(i % 50);
    e.replaces = {"handle_request_" + std::to_string(i), "_ZN6server5parseERKSs"};
    e.blob_sha256 = sha256_hex(as_bytes(e.id));
    e.blob_size = 16'000 + i;
    index.patches.push_back(std::move(e));
  }
  s.index_text = serialize_index(index);
  IndexPointer pointer{index.registry, index.version, sha256_hex(as_bytes(s.index_text)), index.expires};
  s.minisig_text = minisign::format_signature(
      minisign::sign(s.key, as_bytes(s.index_text), format_pointer_comment(pointer)));
  return s;
}

void BM_IndexVerifyParse(benchmark::State& state) {
  static const SignedIndex s = make_signed_index();
  const minisign::PublicKey keys[] = {s.key.public_key()};
  TrustAnchor anchor{keys, "bench", std::nullopt, {}};
  for (auto _ : state) {
    auto checked = check_pointer(s.minisig_text, anchor, s.now);
    if (!checked) {
      state.SkipWithError(checked.error().what().c_str());
      return;
    }
    auto index = check_index(*checked, s.index_text);
    if (!index || index->patches.size() != kEntries) {
      state.SkipWithError(index ? "wrong entry count" : index.error().what().c_str());
      return;
    }
    benchmark::DoNotOptimize(index->patches.data());
  }
  state.counters["entries"] = kEntries;
  state.counters["index_bytes"] = double(s.index_text.size());
}

void BM_IndexParseOnly(benchmark::State& state) {
  static const SignedIndex s = make_signed_index();
  for (auto _ : state) {
    auto index = parse_index(s.index_text);
    if (!index) {
      state.SkipWithError(index.error().what().c_str());
      return;
    }
    benchmark::DoNotOptimize(index->patches.data());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void BM_Poll304(benchmark::State& state) {
  char root_template[] = "/tmp/hp-bench-registry-XXXXXX";
  if (::mkdtemp(root_template) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  const std::string root = root_template;
  {
    std::ofstream(root + "/patch.so") << "a patch object\n";
  }
  PublishRequest req;
  req.registry_dir = root + "/registry";
  req.key = minisign::generate_secret_key();
  req.registry_name = "bench";
  req.patches.push_back(PublishItem{root + "/patch.so", "fix-a", 1, "fixes a", std::string(40, 'a'), "server", {"f"}});
  if (auto r = publish(req); !r) {
    state.SkipWithError(r.error().what().c_str());
    return;
  }
  long not_modified = 0;
  test::HttpServer server([&](const test::HttpRequest& r) {
    const std::string body = read_file(req.registry_dir + r.path);
    const std::string etag = "\"" + sha256_hex(as_bytes(body)).substr(0, 16) + "\"";
    if (r.header("If-None-Match") == etag) {
      ++not_modified;
      return test::HttpResponse{304, {"ETag: " + etag}, "", false};
    }
    return test::HttpResponse{200, {"ETag: " + etag}, body};
  });
  RegistryConfig config;
  config.urls = {server.url()};
  config.registry_name = "bench";
  config.trusted_keys = {minisign::public_key_line(req.key.public_key())};
  config.cache_dir = root + "/cache";
  PatchApplier applier;
  applier.loaded_build_ids = [] { return std::vector<std::string>{}; };
  applier.applied_version = [](std::string_view) { return 0u; };
  applier.apply = [](const VerifiedPatch&) -> Status { return {}; };
  auto client = RegistryClient::create(config, applier);
  if (!client || !client->update()) {
    state.SkipWithError("client setup or first update failed");
    return;
  }
  for (auto _ : state) {
    auto r = client->update();
    if (!r || r->changed) {
      state.SkipWithError(r ? "unexpected change" : r.error().what().c_str());
      break;
    }
  }
  state.counters["not_modified"] = double(not_modified);
  std::filesystem::remove_all(root);
}

}  // namespace

BENCHMARK(BM_IndexVerifyParse)->Name("registry/index_verify_parse_10k")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IndexParseOnly)->Name("registry/index_parse_only_10k")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Poll304)->Name("registry/update_poll_304")->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
