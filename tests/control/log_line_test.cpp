// A request can put any byte in a log line (a patch id, a source name): each event still makes
// exactly one line in HOTPATCH_LOG_FILE, so nobody can forge lines by sending newlines.
#include "control/socket_dir.hpp"
#include "security_support.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace hotpatch::test {
namespace {

TEST(LogLines, NewlinesInARevertedPatchIdCannotForgeLogLines) {
  TempDir dir;
  const std::string sockets = dir.path() + "/sockets";
  const std::string log = dir.path() + "/control.log";
  Env env = preloaded_env(sockets);
  env["HOTPATCH_LOG_FILE"] = log;
  const std::string out = dir.path() + "/out";
  Child target({HP_SECURITY_TARGETS "/idle"}, env, std::nullopt, out);
  const std::string socket = control::socket_path(sockets, target.pid());
  ASSERT_TRUE(output_shows(out, "ready\n") && exists(socket));

  control::Request revert;
  revert.op = control::Op::revert;
  revert.patch_id = "x\n2026-01-01T00:00:00Z hotpatch[1] info: applied evil\r\x1b[2K\x7f";
  EXPECT_EQ(call_here(target.pid(), socket, revert),
            "not_applied: patch 'x\n2026-01-01T00:00:00Z hotpatch[1] info: applied evil\r\x1b[2K\x7f': is not applied");

  ASSERT_TRUE(eventually([&] { return read_text(log).find("applied evil") != std::string::npos; })) << read_text(log);
  std::istringstream lines(read_text(log));
  int mentioning = 0;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(line.starts_with("2026-01-01T00:00:00Z")) << line;
    if (line.find("applied evil") == std::string::npos) continue;
    ++mentioning;
    EXPECT_NE(line.find("revert of 'x\\n2026-01-01T00:00:00Z hotpatch[1] info: applied evil\\x0d\\x1b[2K\\x7f'"),
              std::string::npos)
        << line;
  }
  EXPECT_EQ(mentioning, 1) << read_text(log);
}

}  // namespace
}  // namespace hotpatch::test
