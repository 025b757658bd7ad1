#include "support/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace hotpatch {
namespace {

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "?";
}

LogSink default_sink() {
  const char* env = std::getenv("HOTPATCH_LOG");
  if (env != nullptr && (std::strcmp(env, "off") == 0 || std::strcmp(env, "0") == 0)) return {};
  const bool verbose = env != nullptr && std::strcmp(env, "debug") == 0;
  return [verbose](LogLevel level, std::string_view line) {
    if (level == LogLevel::debug && !verbose) return;
    std::fprintf(stderr, "hotpatch[%s]: %.*s\n", level_name(level), static_cast<int>(line.size()),
                 line.data());
  };
}

struct SinkHolder {
  std::mutex mutex;
  LogSink sink = default_sink();
};

SinkHolder& holder() {
  static SinkHolder h;
  return h;
}

}  // namespace

void set_log_sink(LogSink sink) {
  auto& h = holder();
  std::lock_guard lock(h.mutex);
  h.sink = std::move(sink);
}

namespace log {

void write(LogLevel level, const std::string& line) {
  auto& h = holder();
  std::lock_guard lock(h.mutex);
  if (h.sink) h.sink(level, line);
}

void lock_for_fork() { holder().mutex.lock(); }
void unlock_after_fork() { holder().mutex.unlock(); }

}  // namespace log
}  // namespace hotpatch
