// The `.hotpatch` section: NUL-separated records written by the macros in patch.h (no relocations,
// so the file is understood before any of its code is loaded).
#include <hotpatch/patch.h>
#include <hotpatch/manifest.hpp>

#include "engine/patch_object.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hotpatch {
namespace {

constexpr std::size_t kMaxSectionSize = 1 << 20;
constexpr std::size_t kMaxFieldSize = 4096;
// One per fixed unit; far more than any fix spans, and a bound on what a hostile manifest costs.
constexpr std::size_t kMaxObjects = 256;

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_build_id(const std::string& id) {
  return id.size() >= 2 && id.size() <= 128 && id.size() % 2 == 0 &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

Error malformed(const std::string& what) { return make_error(ErrorCode::malformed_patch, "", what); }

}  // namespace

Result<PatchManifest> parse_patch_manifest(const void* data, std::size_t size) {
  if (size > kMaxSectionSize) return malformed("the .hotpatch section is larger than 1 MiB");
  const auto* p = static_cast<const char*>(data);
  std::vector<std::vector<std::string>> records;
  std::size_t i = 0;
  while (i < size) {
    if (p[i] == '\0') {
      ++i;
      continue;
    }
    std::vector<std::string> fields;
    while (i < size && p[i] != '\0') {
      std::size_t end = i;
      while (end < size && p[end] != '\0') ++end;
      if (end == size) return malformed("the .hotpatch section ends inside a record");
      if (end - i > kMaxFieldSize) return malformed("a .hotpatch record field is longer than 4096 bytes");
      fields.emplace_back(p + i, end - i);
      i = end + 1;
    }
    records.push_back(std::move(fields));
  }

  PatchManifest m;
  bool have_patch = false, have_target = false;
  std::set<std::string> targets, variables;
  auto object_index = [&](const std::string& symbol) -> std::optional<std::size_t> {
    for (std::size_t k = 0; k < m.objects.size(); ++k)
      if (m.objects[k].symbol == symbol) return k;
    return std::nullopt;
  };
  for (const auto& r : records) {
    const std::string& kind = r[0];
    if (kind == "P") {
      if (have_patch) return malformed("the patch is declared twice (two HOTPATCH_PATCH records)");
      if (r.size() < 4 || r.size() > 5) return malformed("the HOTPATCH_PATCH record has " + std::to_string(r.size()) + " fields");
      if (r[1] != HOTPATCH_STR(HOTPATCH_RECORD_FORMAT))
        return malformed("record format " + r[1] + " is not supported (this runtime reads format " +
                         HOTPATCH_STR(HOTPATCH_RECORD_FORMAT) ")");
      if (!valid_id(r[2])) return malformed("patch id '" + r[2] + "' is invalid (1-128 letters, digits, '.', '_', '-')");
      const std::string& v = r[3];
      if (v.empty() || v.size() > 10 || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); }) ||
          std::stoull(v) == 0 || std::stoull(v) > UINT32_MAX)
        return malformed("patch version '" + v + "' is not an integer from 1 to 4294967295");
      m.id = r[2];
      m.version = static_cast<std::uint32_t>(std::stoull(v));
      m.about = r.size() == 5 ? r[4] : "";
      have_patch = true;
    } else if (kind == "T") {
      if (have_target) return malformed("the patch names two targets (two HOTPATCH_TARGET records)");
      if (r.size() != 3) return malformed("the HOTPATCH_TARGET record has " + std::to_string(r.size()) + " fields");
      if (!valid_build_id(r[1])) return malformed("target build-id '" + r[1] + "' is not lower-case hex");
      m.target_build_id = r[1];
      m.target_module = r[2];
      have_target = true;
    } else if (kind == "R") {
      if (r.size() != 3) return malformed("a HOTPATCH_REPLACE record has " + std::to_string(r.size()) + " fields");
      if (!targets.insert(r[1]).second) return malformed("'" + r[1] + "' is replaced twice");
      m.replaces.push_back({r[1], r[2]});
    } else if (kind == "I") {
      if (r.size() != 3) return malformed("a HOTPATCH_IMPORT record has " + std::to_string(r.size()) + " fields");
      if (!variables.insert(r[2]).second) return malformed("import variable '" + r[2] + "' is declared twice");
      m.imports.push_back({r[1], r[2]});
    } else if (kind == "O") {
      if (r.size() != 4) return malformed("an object record has " + std::to_string(r.size()) + " fields");
      if (m.objects.size() == kMaxObjects) return malformed("the patch carries more than " + std::to_string(kMaxObjects) + " objects");
      const std::string& n = r[2];
      if (n.empty() || n.size() > 10 || !std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isdigit(c); }) ||
          std::stoull(n) == 0 || std::stoull(n) > (256ull << 20))
        return malformed("object size '" + n + "' is not a number of bytes from 1 to 256 MiB");
      if (object_index(r[1])) return malformed("object '" + r[1] + "' is declared twice");
      m.objects.push_back(ManifestObject{r[1], std::stoull(n), r[3], {}});
    } else if (kind == "L") {
      // No record names .eh_frame: the runtime always registers the frame records of the code it
      // loads, and make-patch names the LSDA and personality sections they need.
      if (r.size() != 3 || r[2].empty()) return malformed("a section record has " + std::to_string(r.size()) + " fields");
      auto o = object_index(r[1]);
      if (!o) return malformed("a section record names object '" + r[1] + "', which no earlier object record declares");
      m.objects[*o].sections.push_back(r[2]);
    } else if (kind == "X") {
      if (r.size() != 4) return malformed("an object replacement record has " + std::to_string(r.size()) + " fields");
      auto o = object_index(r[3]);
      if (!o) return malformed("a replacement names object '" + r[3] + "', which no earlier object record declares");
      // Statics of the same name in two units are two targets.
      if (!targets.insert(r[1] + '\0' + m.objects[*o].unit).second) return malformed("'" + r[1] + "' is replaced twice");
      m.replaces.push_back({r[1], r[2], true, *o});
    } else if (kind == "C") {
      if (r.size() != 2 || r[1] != "stack")
        return malformed("HOTPATCH_CONSISTENCY names '" + (r.size() > 1 ? r[1].substr(0, 32) : std::string()) +
                         "'; the one consistency model is 'stack'");
      m.stack_consistency = true;
    } else {
      return malformed("unknown record kind '" + kind.substr(0, 16) + "'");
    }
  }
  if (!have_patch) return malformed("no HOTPATCH_PATCH record: the patch has no id and version");
  if (!have_target)
    return malformed("no HOTPATCH_TARGET record: the patch is not bound to a build (build it with hotpatch_add_patch)");
  if (m.replaces.empty()) return malformed("the patch replaces nothing (no HOTPATCH_REPLACE record)");
  for (const auto& o : m.objects)
    if (o.sections.empty()) return malformed("the patch's object '" + o.symbol + "' names no section to load");
  return m;
}

Result<PatchManifest> read_patch_manifest(const std::string& path) {
  HOTPATCH_LET(image, engine::read_patch_image(path));
  return std::move(image.manifest);
}

}  // namespace hotpatch
