// Internal logging: one line per event through the sink the host program chose (runtime.hpp).
#pragma once

#include <hotpatch/error.hpp>
#include <hotpatch/log.hpp>

#include <string>
#include <string_view>

namespace hotpatch::log {

/// Every line passes here: control characters are escaped (see escape_line), so whatever a line
/// quotes (a patch id, a path, a peer's request) it stays one line in every sink.
void write(LogLevel level, const std::string& line);
inline void info(const std::string& line) { write(LogLevel::info, line); }
inline void warning(const std::string& line) { write(LogLevel::warning, line); }
inline void debug(const std::string& line) { write(LogLevel::debug, line); }

/// `\n` becomes the two characters \n; other bytes below 0x20 and 0x7f become \xNN.
std::string escape_line(std::string_view line);

/// Checks HOTPATCH_LOG (unset, empty, off, 0, info or debug); an invalid value is an
/// invalid_argument error whose subject is the variable. The default sink itself cannot fail:
/// it warns once on stderr and logs at the info level.
Status log_setting_from_environment();

/// Held across fork() so a child never inherits the sink's lock taken.
void lock_for_fork();
void unlock_after_fork();

}  // namespace hotpatch::log
