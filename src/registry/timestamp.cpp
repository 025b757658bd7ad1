#include "registry/timestamp.hpp"

#include <charconv>
#include <cstdio>

namespace hotpatch::registry {
namespace {

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  std::from_chars(s.data() + pos, s.data() + pos + len, out);
  return true;
}

}  // namespace

std::string format_timestamp(TimePoint t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto day = floor<days>(secs);
  year_month_day ymd{day};
  hh_mm_ss hms{secs - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<TimePoint> parse_timestamp(std::string_view s, std::string_view what) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  bool shape = s.size() == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
               s[16] == ':' && s[19] == 'Z' && read_int(s, 0, 4, y) && read_int(s, 5, 2, mo) &&
               read_int(s, 8, 2, d) && read_int(s, 11, 2, h) && read_int(s, 14, 2, mi) &&
               read_int(s, 17, 2, se);
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  // TimePoint counts nanoseconds in 64 bits: years past 2261 overflow it (found by fuzzing).
  if (!shape || !ymd.ok() || y < 1970 || y > 2261 || h > 23 || mi > 59 || se > 59) {
    return make_error(ErrorCode::parse, std::string(what),
                      "'" + std::string(s) + "' is not a UTC time like 2026-12-01T00:00:00Z");
  }
  return TimePoint{sys_days{ymd} + hours{h} + minutes{mi} + seconds{se}};
}

}  // namespace hotpatch::registry
