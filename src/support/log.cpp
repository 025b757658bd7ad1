#include "support/log.hpp"

#include <algorithm>
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

enum class Verbosity { off, info, debug };

Result<Verbosity> verbosity_from_environment() {
  const char* env = std::getenv("HOTPATCH_LOG");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "info") == 0) return Verbosity::info;
  if (std::strcmp(env, "off") == 0 || std::strcmp(env, "0") == 0) return Verbosity::off;
  if (std::strcmp(env, "debug") == 0) return Verbosity::debug;
  return make_error(ErrorCode::invalid_argument, "HOTPATCH_LOG",
                    "'" + log::escape_line(env) + "' is not off, 0, info or debug");
}

LogSink default_sink() {
  auto setting = verbosity_from_environment();
  if (!setting) {
    // No caller to return this to: say it once where the log lines would have gone.
    std::fprintf(stderr, "hotpatch[warning]: %s; logging at the info level\n", setting.error().what().c_str());
  }
  const Verbosity v = setting ? *setting : Verbosity::info;
  if (v == Verbosity::off) return {};
  const bool verbose = v == Verbosity::debug;
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

std::string escape_line(std::string_view line) {
  auto needs = [](unsigned char c) { return c < 0x20 || c == 0x7f; };
  if (std::none_of(line.begin(), line.end(), needs)) return std::string(line);
  std::string out;
  out.reserve(line.size() + 8);
  for (unsigned char c : line) {
    if (c == '\n') {
      out += "\\n";
    } else if (needs(c)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Status log_setting_from_environment() {
  HOTPATCH_TRY(verbosity_from_environment());
  return {};
}

void write(LogLevel level, const std::string& line) {
  const std::string escaped = escape_line(line);
  auto& h = holder();
  std::lock_guard lock(h.mutex);
  if (h.sink) h.sink(level, escaped);
}

void lock_for_fork() { holder().mutex.lock(); }
void unlock_after_fork() { holder().mutex.unlock(); }

}  // namespace log
}  // namespace hotpatch
