// A log sink that appends one line per event to a file (HOTPATCH_LOG_FILE), for services whose
// stderr goes nowhere useful.
#pragma once

#include <hotpatch/error.hpp>
#include <hotpatch/log.hpp>

#include <string>

namespace hotpatch::control {

/// Opens `path` for appending (created 0600) and returns a sink writing
/// "<UTC time> hotpatch[<pid>] <level>: <line>" with one write() per line.
Result<LogSink> file_log_sink(const std::string& path);

}  // namespace hotpatch::control
