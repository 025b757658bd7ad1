#include "engine/patch_validation.hpp"

#include <elf.h>

namespace hotpatch::engine {
namespace {

Status check_pointer_object(const image::LoadableElf& elf, const std::string& symbol, bool written,
                            const std::string& name, const char* what) {
  auto fail = [&](const std::string& why) {
    return make_error(ErrorCode::malformed_patch, name + ": " + symbol, "the patch does not export this " + std::string(what) + why);
  };
  auto sym = elf.find_export(symbol);
  if (!sym) return fail(" (no such defined global symbol in its dynamic symbol table)");
  if (sym->type != STT_OBJECT || sym->size != sizeof(void*))
    return fail(" as an 8-byte data object (it is of type " + std::to_string(sym->type) + " and size " +
                std::to_string(sym->size) + ")");
  const image::LoadSegment* seg = elf.segment_of(sym->value, sym->size);
  if (seg == nullptr) return fail(" inside its loaded segments");
  if (written && (!(seg->flags & PF_W) || elf.in_relro(sym->value, sym->size)))
    return fail(" in writable memory (the runtime stores the target's address into it)");
  return {};
}

}  // namespace

Status check_manifest_exports(const image::LoadableElf& elf, const PatchManifest& manifest, const std::string& name) {
  for (const auto& r : manifest.replaces)
    if (!r.from_object) HOTPATCH_TRY(check_pointer_object(elf, r.replacement_symbol, false, name, "replacement pointer"));
  for (const auto& o : manifest.objects) {
    auto sym = elf.find_export(o.symbol);
    if (!sym || sym->type != STT_OBJECT || sym->size != o.size || elf.segment_of(sym->value, sym->size) == nullptr)
      return make_error(ErrorCode::malformed_patch, name + ": " + o.symbol,
                        "the patch does not export its object as a " + std::to_string(o.size) +
                            "-byte array inside its loaded segments");
  }
  for (const auto& i : manifest.imports)
    HOTPATCH_TRY(check_pointer_object(elf, i.variable, true, name, "import variable"));
  return {};
}

}  // namespace hotpatch::engine
