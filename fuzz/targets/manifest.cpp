// The `.hotpatch` section reader: any bytes in, a manifest or an error out; never a crash.
#include "check.hpp"

#include <hotpatch/runtime.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = hotpatch::parse_patch_manifest(data, size);
  if (m) {
    // What the engine relies on once a manifest parsed.
    HP_FUZZ_CHECK(!m->id.empty());
    HP_FUZZ_CHECK(m->version > 0);
    HP_FUZZ_CHECK(!m->target_build_id.empty());
    for (const auto& r : m->replaces) HP_FUZZ_CHECK(!r.target_symbol.empty() && !r.replacement_symbol.empty());
  } else {
    HP_FUZZ_CHECK(!m.error().what().empty());
  }
  return 0;
}
