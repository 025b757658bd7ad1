// Files planted in the client's cache while its directory was open to other users: each must be
// refused and removed, said so in the cache warnings, and the client must go on with the registry.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

constexpr uid_t nobody = 65534;

class CachePlanting : public ::testing::Test {
 protected:
  TestRegistry reg;
  TempDir cache;
  FakeEngine engine;
  TimePoint now = base_time() + 1min;
  std::string dir = cache / "cache";

  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "these tests plant files of other users"; }

  RegistryClient make() {
    auto c = RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
    EXPECT_TRUE(c) << c.error().what();
    return std::move(*c);
  }
  // Publishes fix-a v1 and returns the sha256 of its blob.
  std::string publish_one() {
    reg.publish("fix-a", 1, build_id_a);
    auto probe = make();
    EXPECT_TRUE(probe.update());
    return probe.available().at(0).blob_sha256;
  }
  std::string blob_entry(const std::string& sha) const { return dir + "/blob-" + sha + ".so"; }
  std::string signed_blob(const std::string& sha) const { return read_text(reg.path("blobs/sha256/" + sha + ".so")); }
  static std::vector<std::string> messages(const std::vector<Error>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.what());
    return out;
  }
  static bool is_regular_file_of(const std::string& path, uid_t uid) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid;
  }
};

TEST_F(CachePlanting, SymlinkedBlobIsRemovedAndTheRealBlobFetched) {
  std::string sha = publish_one();
  auto client = make();
  ASSERT_TRUE(client.update());
  // A valid-looking target: the right bytes today, whatever its owner writes there tomorrow.
  std::string decoy = cache / "decoy.so";
  write_text(decoy, signed_blob(sha));
  ASSERT_EQ(::symlink(decoy.c_str(), blob_entry(sha).c_str()), 0);

  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->applied.size(), 1u);
  ASSERT_EQ(engine.received_bytes.size(), 1u);
  EXPECT_EQ(engine.received_bytes[0], signed_blob(sha));
  EXPECT_TRUE(is_regular_file_of(blob_entry(sha), 0)) << "the fetched blob replaces the link";
  EXPECT_EQ(messages(client.take_cache_warnings()),
            std::vector<std::string>{blob_entry(sha) +
                                     ": is a symbolic link, not a regular file; refused and removed from the cache"});
  EXPECT_TRUE(client.take_cache_warnings().empty()) << "warnings are handed out once";
}

TEST_F(CachePlanting, SymlinkPlantedBeforeStartIsRemovedWhenTheCacheOpens) {
  std::string sha = publish_one();
  std::filesystem::remove(blob_entry(sha));
  ASSERT_EQ(::symlink("/etc/passwd", blob_entry(sha).c_str()), 0);
  auto client = make();
  EXPECT_EQ(messages(client.take_cache_warnings()),
            std::vector<std::string>{blob_entry(sha) +
                                     ": is a symbolic link, not a regular file; refused and removed from the cache"});
  struct stat st {};
  EXPECT_NE(::lstat(blob_entry(sha).c_str(), &st), 0);
  ASSERT_TRUE(client.apply_available());
  EXPECT_EQ(engine.received_bytes.at(0), signed_blob(sha));
}

TEST_F(CachePlanting, BlobOwnedByAnotherUserIsRemovedAndRefetched) {
  std::string sha = publish_one();
  auto client = make();
  ASSERT_TRUE(client.apply_available());
  ASSERT_TRUE(is_regular_file_of(blob_entry(sha), 0));
  // Same bytes, so only the owner can be the reason for the refusal.
  ASSERT_EQ(::chown(blob_entry(sha).c_str(), nobody, nobody), 0);
  engine.applied.clear();

  auto r = client.apply_available();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->applied.size(), 1u);
  EXPECT_EQ(engine.received_bytes.at(1), signed_blob(sha));
  EXPECT_TRUE(is_regular_file_of(blob_entry(sha), 0));
  EXPECT_EQ(messages(client.take_cache_warnings()),
            std::vector<std::string>{blob_entry(sha) +
                                     ": is owned by uid 65534, not by this user (uid 0); refused and removed from the "
                                     "cache"});
}

TEST_F(CachePlanting, FifoAsStateDoesNotBlockStartAndIsRemoved) {
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  std::string state = dir + "/state.json";
  ASSERT_EQ(::mkfifo(state.c_str(), 0666), 0);

  auto started = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [this] {
    return RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
  });
  if (pending.wait_for(1s) != std::future_status::ready) {
    // Release a reader stuck on the FIFO so the test fails instead of hanging.
    int w = ::open(state.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
    FAIL() << "RegistryClient::create blocked on a FIFO planted as state.json";
  }
  auto client = pending.get();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  ASSERT_TRUE(client) << client.error().what();
  struct stat st {};
  EXPECT_NE(::lstat(state.c_str(), &st), 0) << "the FIFO is gone";
  EXPECT_EQ(messages(client->take_cache_warnings()),
            (std::vector<std::string>{
                dir + ": cache directory had mode 0777, writable by other users; made it private (0700), and its "
                      "entries are trusted only after checks",
                state + ": is a FIFO, not a regular file; refused and removed from the cache"}));
  EXPECT_EQ(client->index_version(), 0u);
  reg.publish("fix-a", 1, build_id_a);
  ASSERT_TRUE(client->update());
  EXPECT_TRUE(is_regular_file_of(state, 0));
}

TEST_F(CachePlanting, FifoPlantedAsBlobAfterStartDoesNotBlockTheApply) {
  std::string sha = publish_one();
  auto client = make();
  ASSERT_EQ(::mkfifo(blob_entry(sha).c_str(), 0600), 0);
  auto pending = std::async(std::launch::async, [&client] { return client.apply_available(); });
  if (pending.wait_for(1s) != std::future_status::ready) {
    int w = ::open(blob_entry(sha).c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
    FAIL() << "apply_available blocked on a FIFO planted as a blob";
  }
  auto r = pending.get();
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->applied.size(), 1u);
  EXPECT_EQ(engine.received_bytes.at(0), signed_blob(sha));
  EXPECT_TRUE(is_regular_file_of(blob_entry(sha), 0));
  EXPECT_EQ(messages(client.take_cache_warnings()),
            std::vector<std::string>{blob_entry(sha) + ": is a FIFO, not a regular file; refused and removed from the cache"});
}

TEST_F(CachePlanting, DirectoryOnlyReadableByOthersIsTightenedWithoutWarning) {
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  auto client = make();
  EXPECT_TRUE(client.take_cache_warnings().empty());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(CachePlanting, StateWritableByOthersIsNotTrusted) {
  publish_one();
  std::string state = dir + "/state.json";
  ASSERT_EQ(::chmod(state.c_str(), 0666), 0);
  auto client = make();
  EXPECT_EQ(client.index_version(), 0u) << "a state anyone could have rewritten holds no rollback protection";
  EXPECT_EQ(messages(client.take_cache_warnings()),
            std::vector<std::string>{state +
                                     ": is writable by group or others (mode 0666); refused and removed from the cache"});
}

TEST_F(CachePlanting, CacheDirectoryOfAnotherUserIsRefusedAndLeftAlone) {
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::chown(dir.c_str(), nobody, nobody), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  auto c = RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::permission);
  EXPECT_EQ(c.error().what(), dir + ": cache directory is owned by uid 65534, not by this user");
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u) << "not chmod-ed";
}

TEST_F(CachePlanting, SymlinkAsCacheDirectoryIsRefused) {
  std::filesystem::create_directories(cache / "elsewhere");
  ASSERT_EQ(::symlink((cache / "elsewhere").c_str(), dir.c_str()), 0);
  auto c = RegistryClient::create(client_config(reg, cache), engine.applier(), [this] { return now; });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().what(), dir + ": cache path is not a directory (or is a symlink)");
}

}  // namespace
}  // namespace hotpatch::registry::test
