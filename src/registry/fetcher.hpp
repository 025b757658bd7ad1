// One GET over http://, https:// or file:// with a hard size cap, timeouts and ETag revalidation.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace hotpatch::registry {

struct FetchLimits {
  std::size_t max_bytes = 4096;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};
  /// A transfer slower than this many bytes per second for low_speed_time is aborted.
  long low_speed_bytes = 1024;
  std::chrono::seconds low_speed_time{10};
};

struct FetchResult {
  bool not_modified = false;  ///< 304: the caller's copy (by ETag) is still current
  std::string body;
  std::string etag;           ///< as the server sent it, quotes included; empty for file://
};

/// Fetches `url`. The cap is enforced while receiving, whatever Content-Length says. Errors:
/// too_large (over the cap), network (unreachable, timeout, HTTP >= 400), invalid_argument
/// (a scheme other than http/https/file).
Result<FetchResult> fetch(const std::string& url, const FetchLimits& limits, std::string_view if_none_match = {});

/// `base` + "/" + `path`, without doubling the slash.
std::string join_url(std::string_view base, std::string_view path);

/// A plain directory path becomes a file:// URL; URLs pass through unchanged.
std::string url_from_location(std::string_view location);

}  // namespace hotpatch::registry
