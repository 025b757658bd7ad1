// minisign signature parser (files operators and registries hand us). What parses must format and
// parse back to the same value.
#include "check.hpp"
#include "registry/minisign.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ms = hotpatch::registry::minisign;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = ms::parse_signature(text)) {
    auto back = ms::parse_signature(ms::format_signature(*parsed));
    HP_FUZZ_CHECK(back);
    HP_FUZZ_CHECK(back->signature == parsed->signature && back->trusted_comment == parsed->trusted_comment && back->key_id == parsed->key_id);
  }
  return 0;
}
