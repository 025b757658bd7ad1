// minisign public key parser (files operators and registries hand us). What parses must format and
// parse back to the same value.
#include "check.hpp"
#include "registry/minisign.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ms = hotpatch::registry::minisign;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = ms::parse_public_key(text)) {
    auto back = ms::parse_public_key(ms::format_public_key(*parsed));
    HP_FUZZ_CHECK(back);
    HP_FUZZ_CHECK(back->key == parsed->key && back->id == parsed->id);
  }
  return 0;
}
