// Where the runtime's log lines go.
#pragma once

#include <hotpatch/export.h>

#include <functional>
#include <string_view>

namespace hotpatch {

/// Log sink: receives one line per event (no trailing newline). Default: stderr, unless the
/// environment sets HOTPATCH_LOG=off. Pass an empty function to silence the runtime.
enum class LogLevel { debug, info, warning, error };
using LogSink = std::function<void(LogLevel, std::string_view)>;
HOTPATCH_API void set_log_sink(LogSink sink);

}  // namespace hotpatch
