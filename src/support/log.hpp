// Internal logging: one line per event through the sink the host program chose (runtime.hpp).
#pragma once

#include <hotpatch/runtime.hpp>

#include <string>

namespace hotpatch::log {

void write(LogLevel level, const std::string& line);
inline void info(const std::string& line) { write(LogLevel::info, line); }
inline void warning(const std::string& line) { write(LogLevel::warning, line); }
inline void debug(const std::string& line) { write(LogLevel::debug, line); }

/// Held across fork() so a child never inherits the sink's lock taken.
void lock_for_fork();
void unlock_after_fork();

}  // namespace hotpatch::log
