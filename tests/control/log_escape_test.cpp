// Log lines are escaped where every line passes (log::write), and HOTPATCH_LOG is checked.
#include "support/log.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace hotpatch {
namespace {

TEST(LogEscape, ControlCharactersBecomeVisibleEscapes) {
  EXPECT_EQ(log::escape_line("plain line: nothing to do"), "plain line: nothing to do");
  EXPECT_EQ(log::escape_line("a\nb"), "a\\nb");
  EXPECT_EQ(log::escape_line(std::string("t\tr\re\x1b[0m\x7f" "z\0", 12)), "t\\x09r\\x0de\\x1b[0m\\x7fz\\x00");
  EXPECT_EQ(log::escape_line("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes as it is
}

TEST(LogEscape, EverySinkGetsOneLinePerEvent) {
  std::vector<std::string> seen;
  set_log_sink([&](LogLevel, std::string_view line) { seen.emplace_back(line); });
  log::warning("revert of 'x\n2026-01-01T00:00:00Z hotpatch[1] info: applied evil' refused");
  set_log_sink({});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "revert of 'x\\n2026-01-01T00:00:00Z hotpatch[1] info: applied evil' refused");
}

TEST(LogSetting, KnownValuesPassAndOthersNameTheVariable) {
  for (const char* ok : {"", "off", "0", "info", "debug"}) {
    ::setenv("HOTPATCH_LOG", ok, 1);
    EXPECT_TRUE(log::log_setting_from_environment().has_value()) << ok;
  }
  ::unsetenv("HOTPATCH_LOG");
  EXPECT_TRUE(log::log_setting_from_environment().has_value());
  ::setenv("HOTPATCH_LOG", "loud", 1);
  auto s = log::log_setting_from_environment();
  ::unsetenv("HOTPATCH_LOG");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(s.error().what(), "HOTPATCH_LOG: 'loud' is not off, 0, info or debug");
}

}  // namespace
}  // namespace hotpatch
