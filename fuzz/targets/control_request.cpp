// The control protocol: request lines arrive from any local process allowed on the socket, and
// responses are read by the CLI. Both parsers take any bytes; parsed requests must round-trip.
#include "check.hpp"
#include "control/protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ctl = hotpatch::control;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  if (auto request = ctl::parse_request(line)) {
    auto back = ctl::parse_request(ctl::format_request(*request));
    HP_FUZZ_CHECK(back);
    HP_FUZZ_CHECK(back->op == request->op && back->patch_id == request->patch_id && back->source == request->source &&
                  back->all == request->all);
  }
  if (auto response = ctl::parse_response(line)) (void)ctl::format_response(*response);
  return 0;
}
