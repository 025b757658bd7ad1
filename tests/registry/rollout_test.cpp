// Staged rollout: the signed index carries each entry's share of hosts; a host takes the entry when
// a stable hash of (host id, patch id) falls under it. Old clients cannot take a staged entry.
#include "registry/index_format.hpp"
#include "registry/publisher.hpp"
#include "registry/rollout.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <vector>

namespace hotpatch::registry::test {
namespace {

std::set<int> hosts_in(const std::string& patch_id, std::uint32_t percent) {
  std::set<int> in;
  for (int h = 0; h < 1000; ++h)
    if (rollout_includes("host-" + std::to_string(h), patch_id, percent)) in.insert(h);
  return in;
}

// The same hosts on every run, on every machine: the choice is a hash, pinned here.
TEST(Rollout, TenPercentReachesAboutATenthOfAThousandHostsAndTheSameOnesEveryTime) {
  const auto in = hosts_in("redis-cve-2025-46817", 10);
  EXPECT_GE(in.size(), 80u);
  EXPECT_LE(in.size(), 120u);
  EXPECT_EQ(in, hosts_in("redis-cve-2025-46817", 10));
  EXPECT_EQ(rollout_position("host-0", "redis-cve-2025-46817"), rollout_position("host-0", "redis-cve-2025-46817"));
  EXPECT_EQ(in.size(), 88u);
  EXPECT_EQ(std::vector<int>(in.begin(), std::next(in.begin(), 5)), (std::vector<int>{0, 7, 9, 17, 28}));
}

TEST(Rollout, RaisingTheShareOnlyAddsHosts) {
  const auto ten = hosts_in("fix-a", 10), fifty = hosts_in("fix-a", 50);
  EXPECT_GT(fifty.size(), 400u);
  EXPECT_LT(fifty.size(), 600u);
  for (int h : ten) EXPECT_TRUE(fifty.contains(h)) << "host-" << h << " left the rollout when it widened";
  EXPECT_EQ(hosts_in("fix-a", 100).size(), 1000u);
}

TEST(Rollout, EachPatchPicksItsOwnHosts) {
  EXPECT_NE(hosts_in("fix-a", 10), hosts_in("fix-b", 10));
}

TEST(Rollout, ConfiguredHostIdWins) {
  auto id = host_id("host-7");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "host-7");
}

TEST(IndexFormat, StagedEntryMakesTheIndexSchemaTwoAndRoundTrips) {
  Index idx;
  idx.registry = "prod";
  idx.version = 3;
  idx.published = base_time();
  idx.expires = base_time() + std::chrono::hours(24);
  idx.patches.push_back(IndexEntry{"fix-a", 1, "a", build_id_a, "demo", {"f"}, std::string(64, 'a'), 10, 10});
  const std::string text = serialize_index(idx);
  EXPECT_NE(text.find("\"schema\": 2"), std::string::npos) << text;
  EXPECT_NE(text.find("\"rollout_percent\": 10"), std::string::npos) << text;
  auto back = parse_index(text);
  ASSERT_TRUE(back) << back.error().what();
  EXPECT_EQ(back->patches[0].rollout_percent, 10u);
  idx.patches[0].rollout_percent = 100;
  const std::string promoted = serialize_index(idx);
  EXPECT_NE(promoted.find("\"schema\": 1"), std::string::npos) << "an index with nothing staged is for every client";
  EXPECT_EQ(promoted.find("rollout_percent"), std::string::npos);
}

TEST(IndexFormat, RolloutShareOutsideSchemaTwoOrRangeIsRefused) {
  Index idx;
  idx.registry = "prod";
  idx.version = 3;
  idx.published = base_time();
  idx.expires = base_time() + std::chrono::hours(24);
  idx.patches.push_back(IndexEntry{"fix-a", 1, "a", build_id_a, "demo", {"f"}, std::string(64, 'a'), 10, 10});
  const std::string staged = serialize_index(idx);
  auto schema_one = std::string(staged).replace(staged.find("\"schema\": 2"), 11, "\"schema\": 1");
  auto r = parse_index(schema_one);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "index.patches[0].rollout_percent needs schema 2 (a schema 1 client would ignore it and take the entry everywhere)");
  for (const char* bad : {"0", "101"}) {
    auto text = std::string(staged).replace(staged.find("\"rollout_percent\": 10"), 21, std::string("\"rollout_percent\": ") + bad);
    r = parse_index(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message, "index.patches[0].rollout_percent must be between 1 and 100");
  }
}

class StagedPublish : public ::testing::Test {
 protected:
  TempDir dir;
  minisign::SecretKey key = minisign::generate_secret_key();
  int n = 0;

  PublishRequest request(std::vector<std::pair<std::string, std::uint32_t>> items, std::map<std::string, std::uint32_t> rollout) {
    PublishRequest r;
    r.registry_dir = dir / "reg";
    r.key = key;
    r.registry_name = "prod";
    r.now = base_time();
    for (const auto& [id, version] : items) {
      std::string path = dir / ("p" + std::to_string(++n) + ".so");
      write_text(path, id + std::to_string(version));
      r.patches.push_back(PublishItem{path, id, version, "about " + id, build_id_a, "demo", {"sym"}});
    }
    r.rollout = std::move(rollout);
    return r;
  }
  std::uint32_t share(const PublishResult& r, const std::string& id) {
    for (const auto& e : r.index.patches)
      if (e.id == id) return e.rollout_percent;
    ADD_FAILURE() << id << " is not in the index";
    return 0;
  }
};

TEST_F(StagedPublish, StageWidenAndANewVersionKeepsTheShare) {
  auto r = publish(request({{"fix-a", 1}, {"fix-b", 1}}, {{"fix-a", 10}}));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(share(*r, "fix-a"), 10u);
  EXPECT_EQ(share(*r, "fix-b"), 100u);
  r = publish(request({{"fix-a", 2}}, {}));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(share(*r, "fix-a"), 10u) << "a fix to a staged patch must not widen it";
  r = publish(request({}, {{"fix-a", 100}}));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(share(*r, "fix-a"), 100u);
  EXPECT_EQ(r->index.version, 3u);
}

TEST_F(StagedPublish, StagingAnUnknownIdOrAShareOutOfRangeIsRefused) {
  ASSERT_TRUE(publish(request({{"fix-a", 1}}, {})));
  auto r = publish(request({}, {{"fix-z", 10}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "fix-z: is not in registry 'prod': nothing to stage");
  r = publish(request({}, {{"fix-a", 0}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "rollout share 0% is not between 1% and 100%");
}

class StagedClient : public ::testing::Test {
 protected:
  TestRegistry reg;
  TempDir cache;
  FakeEngine engine;

  Result<ApplyReport> apply_as(const std::string& host) {
    RegistryConfig config = client_config(reg, cache);
    config.host_id = host;
    auto c = RegistryClient::create(std::move(config), engine.applier(), [] { return base_time() + std::chrono::minutes(1); });
    if (!c) return c.error();
    return c->apply_available();
  }
};

// A host out of the share leaves the entry alone and says why; one in it applies it.
TEST_F(StagedClient, TakesAStagedEntryOnlyOnHostsInItsShare) {
  reg.publish("fix-a", 1, build_id_a);
  reg.stage("fix-a", 10);
  std::string in, out;
  for (int h = 0; h < 1000 && (in.empty() || out.empty()); ++h) {
    const std::string host = "host-" + std::to_string(h);
    (rollout_includes(host, "fix-a", 10) ? in : out) = host;
  }
  auto r = apply_as(out);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->applied.empty());
  ASSERT_EQ(r->held_back.size(), 1u);
  EXPECT_EQ(r->held_back[0].error.message, "staged to 10% of hosts; host '" + out + "' is not among them yet");
  EXPECT_FALSE(engine.applied.contains("fix-a"));
  r = apply_as(in);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->applied.size(), 1u);
  EXPECT_EQ(engine.applied.at("fix-a"), 1u);
}

TEST_F(StagedClient, PromotedToEveryHostReachesTheOnesLeftOut) {
  reg.publish("fix-a", 1, build_id_a);
  reg.stage("fix-a", 1);
  std::string out;
  for (int h = 0; out.empty(); ++h)
    if (!rollout_includes("host-" + std::to_string(h), "fix-a", 1)) out = "host-" + std::to_string(h);
  auto r = apply_as(out);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->applied.empty());
  reg.stage("fix-a", 100);
  TempDir fresh;  // a client that has not cached the staged index
  RegistryConfig config = client_config(reg, fresh);
  config.host_id = out;
  auto c = RegistryClient::create(std::move(config), engine.applier(), [] { return base_time() + std::chrono::minutes(1); });
  ASSERT_TRUE(c) << c.error().what();
  r = c->apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->applied.size(), 1u);
  EXPECT_TRUE(r->held_back.empty());
}

}  // namespace
}  // namespace hotpatch::registry::test
