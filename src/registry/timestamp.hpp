// UTC timestamps in the one RFC 3339 spelling the registry uses: "2026-12-01T00:00:00Z".
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace hotpatch::registry {

using TimePoint = std::chrono::system_clock::time_point;

std::string format_timestamp(TimePoint t);
/// Whole seconds, upper-case 'T' and 'Z' only, so one instant has exactly one spelling.
Result<TimePoint> parse_timestamp(std::string_view text, std::string_view what);

}  // namespace hotpatch::registry
