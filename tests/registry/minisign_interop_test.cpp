// Signatures cross both ways between hotpatch and Debian's minisign, so operators can use either.
#include "registry/encoding.hpp"
#include "registry/minisign.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace hotpatch::registry::test {
namespace {

#ifdef HOTPATCH_MINISIGN
const std::string minisign_tool = HOTPATCH_MINISIGN;

class MinisignInterop : public ::testing::Test {
 protected:
  TempDir dir;
  std::string data_file = dir / "index.json";
  void SetUp() override { write_text(data_file, "{\"schema\": 1}\n"); }
  void make_minisign_key() {
    auto r = run_command(minisign_tool + " -G -W -p " + (dir / "k.pub") + " -s " + (dir / "k.key"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
};

TEST_F(MinisignInterop, MinisignSignatureVerifiesWithHotpatch) {
  make_minisign_key();
  auto r = run_command(minisign_tool + " -S -s " + (dir / "k.key") + " -m " + data_file + " -t 'made by minisign'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto key = minisign::parse_public_key(read_text(dir / "k.pub"));
  ASSERT_TRUE(key) << key.error().what();
  auto sig = minisign::parse_signature(read_text(data_file + ".minisig"));
  ASSERT_TRUE(sig) << sig.error().what();
  EXPECT_TRUE(sig->prehashed);
  EXPECT_EQ(sig->trusted_comment, "made by minisign");
  EXPECT_TRUE(minisign::verify_trusted_comment(*sig, *key));
  std::string data = read_text(data_file);
  EXPECT_TRUE(minisign::verify_data(*sig, *key, as_bytes(data)));
  EXPECT_FALSE(minisign::verify_data(*sig, *key, as_bytes(data + " ")));
}

TEST_F(MinisignInterop, LegacyMinisignSignatureVerifiesWithHotpatch) {
  make_minisign_key();
  auto r = run_command(minisign_tool + " -S -l -s " + (dir / "k.key") + " -m " + data_file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto key = minisign::parse_public_key(read_text(dir / "k.pub"));
  auto sig = minisign::parse_signature(read_text(data_file + ".minisig"));
  ASSERT_TRUE(key);
  ASSERT_TRUE(sig);
  EXPECT_FALSE(sig->prehashed);
  EXPECT_TRUE(minisign::verify_data(*sig, *key, as_bytes(read_text(data_file))));
}

TEST_F(MinisignInterop, HotpatchSignatureWithMinisignKeyVerifiesWithMinisign) {
  make_minisign_key();
  auto sk = minisign::parse_secret_key(read_text(dir / "k.key"));
  ASSERT_TRUE(sk) << sk.error().what();
  auto sig = minisign::sign(*sk, as_bytes(read_text(data_file)), "made by hotpatch");
  write_text(dir / "index.minisig", minisign::format_signature(sig));
  auto r = run_command(minisign_tool + " -V -p " + (dir / "k.pub") + " -m " + data_file + " -x " + (dir / "index.minisig"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("made by hotpatch"), std::string::npos) << r.output;

  write_text(data_file, "tampered");
  r = run_command(minisign_tool + " -V -p " + (dir / "k.pub") + " -m " + data_file + " -x " + (dir / "index.minisig"));
  EXPECT_NE(r.exit_code, 0) << r.output;
}

TEST_F(MinisignInterop, HotpatchKeysWorkInMinisign) {
  auto sk = minisign::generate_secret_key();
  write_text(dir / "hp.key", minisign::format_secret_key(sk));
  write_text(dir / "hp.pub", minisign::format_public_key(sk.public_key()));
  auto r = run_command(minisign_tool + " -S -s " + (dir / "hp.key") + " -m " + data_file + " -t 'minisign with hotpatch key'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(minisign_tool + " -V -p " + (dir / "hp.pub") + " -m " + data_file);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto sig = minisign::parse_signature(read_text(data_file + ".minisig"));
  ASSERT_TRUE(sig);
  EXPECT_TRUE(minisign::verify_data(*sig, sk.public_key(), as_bytes(read_text(data_file))));
}

TEST_F(MinisignInterop, PublishedRegistryVerifiesWithMinisign) {
  TestRegistry reg;
  reg.publish("fix-hello", 1, build_id_a);
  write_text(dir / "reg.pub", minisign::format_public_key(reg.key().public_key()));
  auto sig = minisign::parse_signature(reg.pointer_text());
  ASSERT_TRUE(sig);
  std::string comment = sig->trusted_comment;
  std::string sha = comment.substr(comment.find("sha256:") + 7, 64);
  auto r = run_command(minisign_tool + " -V -p " + (dir / "reg.pub") + " -m " + reg.path("index/" + sha + ".json") +
                       " -x " + reg.path("index.minisig"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}
#else
TEST(MinisignInterop, NeedsMinisign) { GTEST_SKIP() << "minisign not installed (scripts/install-deps.sh)"; }
#endif

}  // namespace
}  // namespace hotpatch::registry::test
