// Internal logging: one line per event through the sink the host program chose (runtime.hpp).
#pragma once

#include <hotpatch/runtime.hpp>

#include <string>

namespace hotpatch::log {

void write(LogLevel level, const std::string& line);
inline void info(const std::string& line) { write(LogLevel::info, line); }
inline void warning(const std::string& line) { write(LogLevel::warning, line); }
inline void debug(const std::string& line) { write(LogLevel::debug, line); }

}  // namespace hotpatch::log
