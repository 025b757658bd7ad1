// The registry index (strict JSON) and the pointer's trusted comment. Whatever parses must
// serialise and parse back to the same thing: the publisher relies on that round trip.
#include "check.hpp"
#include "registry/index_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto index = hotpatch::registry::parse_index(text)) {
    const std::string again = hotpatch::registry::serialize_index(*index);
    auto back = hotpatch::registry::parse_index(again);
    HP_FUZZ_CHECK(back);
    HP_FUZZ_CHECK(back->version == index->version && back->patches.size() == index->patches.size());
    HP_FUZZ_CHECK(hotpatch::registry::serialize_index(*back) == again);
  }
  if (auto pointer = hotpatch::registry::parse_pointer_comment(text)) {
    auto back = hotpatch::registry::parse_pointer_comment(hotpatch::registry::format_pointer_comment(*pointer));
    HP_FUZZ_CHECK(back);
    HP_FUZZ_CHECK(back->version == pointer->version && back->index_sha256 == pointer->index_sha256);
  }
  return 0;
}
