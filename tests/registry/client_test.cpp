// RegistryClient over a file:// registry with a fake engine and an injected clock.
#include "registry/encoding.hpp"
#include "registry/sha256.hpp"
#include "test_http_server.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

class Client : public ::testing::Test {
 protected:
  TestRegistry reg;
  TempDir cache;
  FakeEngine engine;
  TimePoint now = base_time() + 1min;

  RegistryClient make(RegistryConfig config) {
    auto c = RegistryClient::create(std::move(config), engine.applier(), [this] { return now; });
    EXPECT_TRUE(c) << c.error().what();
    return std::move(*c);
  }
  RegistryClient make() { return make(client_config(reg, cache)); }
};

TEST_F(Client, AppliesPatchesForLoadedModulesOnly) {
  reg.publish("fix-a", 1, build_id_a);
  reg.publish("fix-b", 1, build_id_b);
  auto client = make();
  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_TRUE(r->refresh.has_value());
  EXPECT_TRUE(r->refresh->changed);
  EXPECT_EQ(r->refresh->index_version, 2u);
  ASSERT_EQ(r->applied.size(), 1u);
  EXPECT_EQ(r->applied[0].id, "fix-a");
  EXPECT_TRUE(r->failed.empty());
  EXPECT_EQ(engine.applied.at("fix-a"), 1u);
  EXPECT_FALSE(engine.applied.contains("fix-b"));
  EXPECT_EQ(client.available().size(), 2u);
}

TEST_F(Client, AppliesOnlyNewerVersions) {
  reg.publish("fix-a", 1, build_id_a);
  auto client = make();
  ASSERT_TRUE(client.apply_available());
  ASSERT_TRUE(client.update());
  auto again = client.apply_available();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->applied.empty());
  reg.publish("fix-a", 2, build_id_a);
  ASSERT_TRUE(client.update());
  auto upgraded = client.apply_available();
  ASSERT_TRUE(upgraded) << upgraded.error().what();
  ASSERT_EQ(upgraded->applied.size(), 1u);
  EXPECT_EQ(upgraded->applied[0].version, 2u);
  EXPECT_EQ(engine.applied.at("fix-a"), 2u);
}

TEST_F(Client, RefreshesOnlyWhenTheCacheIsOlderThanTheTtl) {
  reg.publish("fix-a", 1, build_id_a);
  auto config = client_config(reg, cache);
  config.ttl = 1h;
  auto client = make(config);
  auto first = client.apply_available();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->refresh.has_value());
  EXPECT_EQ(client.last_checked(), now);

  reg.publish("fix-a", 2, build_id_a, base_time() + 2min);
  now += 59min;
  auto within = client.apply_available();
  ASSERT_TRUE(within);
  EXPECT_FALSE(within->refresh.has_value());
  EXPECT_TRUE(within->applied.empty());
  EXPECT_EQ(engine.applied.at("fix-a"), 1u);

  now += 1min;  // exactly one TTL after the last check
  auto after = client.apply_available();
  ASSERT_TRUE(after) << after.error().what();
  ASSERT_TRUE(after->refresh.has_value());
  EXPECT_TRUE(after->refresh->changed);
  EXPECT_EQ(engine.applied.at("fix-a"), 2u);
  EXPECT_EQ(client.last_checked(), now);
}

TEST_F(Client, ClockGoingBackwardsForcesARefresh) {
  reg.publish("fix-a", 1, build_id_a);
  auto client = make();
  ASSERT_TRUE(client.apply_available());
  now -= 10min;
  auto r = client.apply_available();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->refresh.has_value());
}

TEST_F(Client, UnreachableRegistryKeepsWorkingFromTheCache) {
  reg.publish("fix-a", 1, build_id_a);
  {
    auto client = make();
    ASSERT_TRUE(client.update());
  }
  std::filesystem::rename(reg.dir(), reg.dir() + ".gone");
  auto client = make();
  EXPECT_EQ(client.index_version(), 1u);
  auto u = client.update();
  ASSERT_TRUE(u) << u.error().what();
  ASSERT_TRUE(u->unreachable.has_value());
  EXPECT_EQ(u->unreachable->code, ErrorCode::network);
  EXPECT_FALSE(u->changed);
  EXPECT_EQ(u->index_version, 1u);

  // The blob is not cached yet, so applying needs the registry: it reports why it cannot.
  auto a = client.apply_available();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::network);
  std::filesystem::rename(reg.dir() + ".gone", reg.dir());
  ASSERT_TRUE(client.apply_available());
  engine.applied.clear();
  std::filesystem::rename(reg.dir(), reg.dir() + ".gone");
  now += 2h;
  auto cached = client.apply_available();
  ASSERT_TRUE(cached) << cached.error().what();
  ASSERT_TRUE(cached->refresh.has_value());
  EXPECT_TRUE(cached->refresh->unreachable.has_value());
  EXPECT_EQ(cached->applied.size(), 1u);
}

TEST_F(Client, UnreachableWithoutCacheIsAnError) {
  auto config = client_config(reg, cache);
  config.urls = {"file://" + (cache / "nothing-here")};
  auto client = make(config);
  auto r = client.update();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
}

TEST_F(Client, FallsBackToTheNextMirror) {
  reg.publish("fix-a", 1, build_id_a);
  auto config = client_config(reg, cache);
  config.urls = {"file://" + (cache / "dead-mirror"), reg.url()};
  auto client = make(config);
  auto r = client.update();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->source, reg.url());
  EXPECT_FALSE(r->unreachable.has_value());
}

TEST_F(Client, OverHttpAnUnchangedPointerCostsA304AndIsStillChecked) {
  reg.publish("fix-a", 1, build_id_a, base_time(), 24h);
  int not_modified = 0;
  HttpServer server([&](const HttpRequest& req) {
    std::string body = read_text(reg.dir() + req.path);
    std::string etag = "\"" + sha256_hex(as_bytes(body)).substr(0, 16) + "\"";
    if (req.header("If-None-Match") == etag) {
      ++not_modified;
      return HttpResponse{304, {"ETag: " + etag}, "", false};
    }
    return HttpResponse{200, {"ETag: " + etag}, body};
  });
  auto config = client_config(reg, cache);
  config.urls = {server.url()};
  auto client = make(config);
  auto first = client.update();
  ASSERT_TRUE(first) << first.error().what();
  EXPECT_TRUE(first->changed);
  auto second = client.update();
  ASSERT_TRUE(second) << second.error().what();
  EXPECT_FALSE(second->changed);
  EXPECT_EQ(not_modified, 1);
  ASSERT_TRUE(client.apply_available());
  EXPECT_EQ(engine.applied.at("fix-a"), 1u);
  // A 304 does not extend trust: the remembered pointer expires like any other.
  now = base_time() + 25h;
  auto stale = client.update();
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::expired);
  EXPECT_EQ(not_modified, 2);
}

TEST_F(Client, EngineRefusalOfOnePatchDoesNotStopTheOthers) {
  reg.publish("fix-a", 1, build_id_a);
  reg.publish("fix-b", 1, build_id_a);
  engine.fail_id = "fix-a";
  auto client = make();
  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].patch.id, "fix-a");
  EXPECT_EQ(r->failed[0].error.code, ErrorCode::not_patchable);
  ASSERT_EQ(r->applied.size(), 1u);
  EXPECT_EQ(r->applied[0].id, "fix-b");
}

TEST_F(Client, CacheIsPrivateAndStateSurvivesRestart) {
  reg.publish("fix-a", 1, build_id_a);
  {
    auto client = make();
    ASSERT_TRUE(client.apply_available());
  }
  struct stat st {};
  ASSERT_EQ(::stat((cache / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((cache / "cache/state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto client = make();
  EXPECT_EQ(client.index_version(), 1u);
  EXPECT_EQ(client.available().size(), 1u);
  EXPECT_EQ(client.last_checked(), now);
}

TEST_F(Client, LooseCacheDirectoryIsTightened) {
  std::filesystem::create_directories(cache / "cache");
  ::chmod((cache / "cache").c_str(), 0755);
  auto client = make();
  struct stat st {};
  ASSERT_EQ(::stat((cache / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(Client, DamagedStateIsReportedNotIgnored) {
  std::filesystem::create_directories(cache / "cache");
  write_text(cache / "cache/state.json", "{ not json");
  auto c = RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::parse);
  EXPECT_EQ(c.error().message,
            "client state is damaged (is not a JSON object); remove it to start over, which forgets the rollback "
            "protection it holds");
}

TEST_F(Client, ConfigIsChecked) {
  auto config = client_config(reg, cache);
  config.urls = {"ftp://example.org/reg"};
  auto c = RegistryClient::create(config, engine.applier());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().what(), "urls: 'ftp://example.org/reg' is not an http://, https:// or file:// URL");
  config = client_config(reg, cache);
  config.trusted_keys = {"not a key"};
  c = RegistryClient::create(config, engine.applier());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().what(), "trusted_keys[0]: is not valid base64");
}

}  // namespace
}  // namespace hotpatch::registry::test
