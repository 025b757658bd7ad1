#include "control/log_file.hpp"

#include "control/unix_socket.hpp"

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace hotpatch::control {

Result<LogSink> file_log_sink(const std::string& path) {
  int raw = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (raw < 0) return make_error(ErrorCode::io, path, "cannot open log file: " + errno_text(errno));
  auto fd = std::make_shared<Fd>(raw);
  return LogSink([fd](LogLevel level, std::string_view line) {
    static constexpr const char* names[] = {"debug", "info", "warning", "error"};
    if (level == LogLevel::debug) return;
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string out = std::string(stamp) + " hotpatch[" + std::to_string(::getpid()) + "] " +
                      names[static_cast<int>(level)] + ": " + std::string(line) + "\n";
    // One write per line: with O_APPEND, lines from several processes never interleave.
    [[maybe_unused]] auto n = ::write(fd->get(), out.data(), out.size());
  });
}

}  // namespace hotpatch::control
