// The socket directory: one the runtime finds is never changed, only accepted or refused; one it
// makes is private whatever the umask.
#include "test_support.hpp"

#include <hotpatch/control.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace hotpatch::test {
namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

TEST(SocketDirectory, SharedDirectoryIsRefusedAndLeftAsItWas) {
  TempDir dir;
  const std::string shared = dir.path() + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  ControlOptions o;
  o.socket_dir = shared;
  o.follow_forks = false;
  auto s = enable_control(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::permission);
  EXPECT_EQ(s.error().what(), shared + ": socket directory has mode 1777, writable by group or others; use a "
                                       "private directory (mode 0700) of this user");
  EXPECT_EQ(mode_of(shared), 01777u);
  EXPECT_EQ(control_socket_path(), "");
}

TEST(SocketDirectory, GroupWritableDirectoryIsRefused) {
  TempDir dir;
  const std::string group = dir.path() + "/group";
  ASSERT_EQ(::mkdir(group.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(group.c_str(), 0770), 0);
  ControlOptions o;
  o.socket_dir = group;
  o.follow_forks = false;
  auto s = enable_control(o);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().what(), group + ": socket directory has mode 0770, writable by group or others; use a "
                                      "private directory (mode 0700) of this user");
  EXPECT_EQ(mode_of(group), 0770u);
}

TEST(SocketDirectory, ReadableExistingDirectoryIsUsedUnchanged) {
  TempDir dir;
  const std::string readable = dir.path() + "/readable";
  ASSERT_EQ(::mkdir(readable.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(readable.c_str(), 0755), 0);
  ControlOptions o;
  o.socket_dir = readable;
  o.follow_forks = false;
  auto s = enable_control(o);
  ASSERT_TRUE(s.has_value()) << s.error().what();
  EXPECT_EQ(mode_of(readable), 0755u);
  EXPECT_EQ(mode_of(control_socket_path()), 0600u);
  disable_control();
}

TEST(SocketDirectory, CreatedDirectoryIsPrivateWhateverTheUmask) {
  TempDir dir;
  const std::string made = dir.path() + "/made";
  const mode_t old = ::umask(0777);
  ControlOptions o;
  o.socket_dir = made;
  o.follow_forks = false;
  auto s = enable_control(o);
  ::umask(old);
  ASSERT_TRUE(s.has_value()) << s.error().what();
  EXPECT_EQ(mode_of(made), 0700u);
  disable_control();
}

}  // namespace
}  // namespace hotpatch::test
