#include "registry/index_format.hpp"

#include "registry/encoding.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <unordered_set>

namespace hotpatch::registry {
namespace {

using nlohmann::json;

Error index_error(std::string message) { return make_error(ErrorCode::parse, "index", std::move(message)); }

// nlohmann keeps the last of duplicate keys silently; a signed document must mean one thing only,
// so the parse callback records the first duplicate it sees.
Result<json> parse_unique_keys(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default: break;
    }
    return true;
  };
  json doc = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return index_error("is not valid JSON");
  if (!duplicate.empty()) return index_error("has duplicate key \"" + duplicate + "\"");
  return doc;
}

Result<std::string> get_string(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return index_error(where + "." + key + " must be a string");
  return it->get<std::string>();
}

Result<std::uint64_t> get_uint(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) {
    return index_error(where + "." + key + " must be a non-negative integer");
  }
  return it->get<std::uint64_t>();
}

Result<IndexEntry> parse_entry(const json& p, const std::string& where, std::uint64_t schema) {
  if (!p.is_object()) return index_error(where + " must be an object");
  IndexEntry e;
  HOTPATCH_LET(id, get_string(p, "id", where));
  if (!is_plain_name(id)) return index_error(where + ".id '" + id + "' may hold letters, digits, '.', '_', '-' only");
  e.id = std::move(id);
  HOTPATCH_LET(pv, get_uint(p, "patch_version", where));
  if (pv == 0 || pv > std::numeric_limits<std::uint32_t>::max()) {
    return index_error(where + ".patch_version must be between 1 and 4294967295");
  }
  e.patch_version = static_cast<std::uint32_t>(pv);
  HOTPATCH_LET(about, get_string(p, "about", where));
  e.about = std::move(about);
  auto target = p.find("target");
  if (target == p.end() || !target->is_object()) return index_error(where + ".target must be an object");
  HOTPATCH_LET(build_id, get_string(*target, "build_id", where + ".target"));
  if (build_id.empty() || build_id.size() % 2 != 0 || build_id.size() > 128 ||
      !is_hex_digest(build_id, build_id.size() / 2)) {
    return index_error(where + ".target.build_id must be lower-case hex");
  }
  e.target_build_id = std::move(build_id);
  HOTPATCH_LET(module, get_string(*target, "module", where + ".target"));
  e.target_module = std::move(module);
  auto replaces = p.find("replaces");
  if (replaces == p.end() || !replaces->is_array()) return index_error(where + ".replaces must be an array");
  for (std::size_t i = 0; i < replaces->size(); ++i) {
    const json& r = (*replaces)[i];
    if (!r.is_object()) return index_error(where + ".replaces[" + std::to_string(i) + "] must be an object");
    HOTPATCH_LET(symbol, get_string(r, "symbol", where + ".replaces[" + std::to_string(i) + "]"));
    e.replaces.push_back(std::move(symbol));
  }
  auto blob = p.find("blob");
  if (blob == p.end() || !blob->is_object()) return index_error(where + ".blob must be an object");
  HOTPATCH_LET(sha, get_string(*blob, "sha256", where + ".blob"));
  if (!is_hex_digest(sha, 32)) return index_error(where + ".blob.sha256 must be 64 lower-case hex digits");
  e.blob_sha256 = std::move(sha);
  HOTPATCH_LET(size, get_uint(*blob, "size", where + ".blob"));
  if (size == 0) return index_error(where + ".blob.size must be positive");
  e.blob_size = size;
  if (p.contains("rollout_percent")) {
    if (schema < Index::staged_schema)
      return index_error(where + ".rollout_percent needs schema " + std::to_string(Index::staged_schema) +
                         " (a schema 1 client would ignore it and take the entry everywhere)");
    HOTPATCH_LET(share, get_uint(p, "rollout_percent", where));
    if (share == 0 || share > 100) return index_error(where + ".rollout_percent must be between 1 and 100");
    e.rollout_percent = static_cast<std::uint32_t>(share);
  }
  return e;
}

}  // namespace

bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Index> parse_index(std::string_view text) {
  try {
    HOTPATCH_LET(doc, parse_unique_keys(text));
    if (!doc.is_object()) return index_error("must be a JSON object");
    HOTPATCH_LET(schema, get_uint(doc, "schema", "index"));
    if (schema != Index::schema && schema != Index::staged_schema) {
      return index_error("has schema " + std::to_string(schema) + ", this client reads schemas 1 and 2 (upgrade hotpatch)");
    }
    Index index;
    HOTPATCH_LET(name, get_string(doc, "registry", "index"));
    index.registry = std::move(name);
    HOTPATCH_LET(version, get_uint(doc, "version", "index"));
    index.version = version;
    HOTPATCH_LET(published_text, get_string(doc, "published", "index"));
    HOTPATCH_LET(published, parse_timestamp(published_text, "index.published"));
    index.published = published;
    HOTPATCH_LET(expires_text, get_string(doc, "expires", "index"));
    HOTPATCH_LET(expires, parse_timestamp(expires_text, "index.expires"));
    index.expires = expires;
    auto patches = doc.find("patches");
    if (patches == doc.end() || !patches->is_array()) return index_error("index.patches must be an array");
    std::unordered_set<std::string> ids;
    for (std::size_t i = 0; i < patches->size(); ++i) {
      HOTPATCH_LET(entry, parse_entry((*patches)[i], "index.patches[" + std::to_string(i) + "]", schema));
      if (!ids.insert(entry.id).second) return index_error("lists patch id '" + entry.id + "' twice");
      index.patches.push_back(std::move(entry));
    }
    return index;
  } catch (const std::exception& e) {
    // nlohmann reports some conversions by throwing; they must not leave the library.
    return index_error(std::string("cannot be read: ") + e.what());
  }
}

std::string serialize_index(const Index& index) {
  nlohmann::ordered_json doc;
  const bool staged = std::any_of(index.patches.begin(), index.patches.end(),
                                  [](const IndexEntry& e) { return e.rollout_percent < 100; });
  doc["schema"] = staged ? Index::staged_schema : Index::schema;
  doc["registry"] = index.registry;
  doc["version"] = index.version;
  doc["published"] = format_timestamp(index.published);
  doc["expires"] = format_timestamp(index.expires);
  doc["patches"] = nlohmann::ordered_json::array();
  for (const auto& e : index.patches) {
    nlohmann::ordered_json p;
    p["id"] = e.id;
    p["patch_version"] = e.patch_version;
    p["about"] = e.about;
    p["target"] = {{"build_id", e.target_build_id}, {"module", e.target_module}};
    p["replaces"] = nlohmann::ordered_json::array();
    for (const auto& s : e.replaces) p["replaces"].push_back({{"symbol", s}});
    p["blob"] = {{"sha256", e.blob_sha256}, {"size", e.blob_size}};
    if (e.rollout_percent < 100) p["rollout_percent"] = e.rollout_percent;
    doc["patches"].push_back(std::move(p));
  }
  return doc.dump(2) + "\n";
}

Result<IndexPointer> parse_pointer_comment(std::string_view comment) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::parse, "index.minisig", "trusted comment " + why);
  };
  std::vector<std::string_view> words;
  for (std::string_view rest = comment; !rest.empty();) {
    auto sp = rest.find(' ');
    words.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  if (words.size() != 5 || words[0] != "hotpatch-index") {
    return bad("is not 'hotpatch-index registry:... version:... sha256:... expires:...'");
  }
  auto field = [&](std::size_t i, std::string_view key) -> std::string_view {
    return words[i].starts_with(key) ? words[i].substr(key.size()) : std::string_view{};
  };
  IndexPointer p;
  p.registry = std::string(field(1, "registry:"));
  if (!is_plain_name(p.registry)) return bad("has no valid registry:NAME");
  auto v = field(2, "version:");
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), p.version);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) return bad("has no valid version:N");
  p.index_sha256 = std::string(field(3, "sha256:"));
  if (!is_hex_digest(p.index_sha256, 32)) return bad("has no valid sha256:HEX");
  auto expires = field(4, "expires:");
  if (expires.empty()) return bad("has no expires:TIME");
  HOTPATCH_LET(t, parse_timestamp(expires, "index.minisig expires"));
  p.expires = t;
  return p;
}

std::string format_pointer_comment(const IndexPointer& p) {
  return "hotpatch-index registry:" + p.registry + " version:" + std::to_string(p.version) +
         " sha256:" + p.index_sha256 + " expires:" + format_timestamp(p.expires);
}

}  // namespace hotpatch::registry
