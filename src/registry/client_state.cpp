#include "registry/client_state.hpp"

#include <nlohmann/json.hpp>

namespace hotpatch::registry {

Result<ClientState> parse_client_state(std::string_view text) {
  auto bad = [](const std::string& why) { return make_error(ErrorCode::parse, "client state", why); };
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return bad("is not a JSON object");
  for (const char* key : {"registry", "index_sha256", "expires", "signer_key_id", "pointer", "etag", "etag_url",
                          "checked_at"}) {
    if (!doc.contains(key) || !doc[key].is_string()) return bad(std::string(key) + " is missing");
  }
  if (!doc.contains("version") || !doc["version"].is_number_unsigned()) return bad("version is missing");
  ClientState s;
  s.registry = doc["registry"].get<std::string>();
  s.version = doc["version"].get<std::uint64_t>();
  s.index_sha256 = doc["index_sha256"].get<std::string>();
  HOTPATCH_LET(expires, parse_timestamp(doc["expires"].get<std::string>(), "client state expires"));
  s.expires = expires;
  s.signer_key_id = doc["signer_key_id"].get<std::string>();
  s.pointer_text = doc["pointer"].get<std::string>();
  s.etag = doc["etag"].get<std::string>();
  s.etag_url = doc["etag_url"].get<std::string>();
  HOTPATCH_LET(checked, parse_timestamp(doc["checked_at"].get<std::string>(), "client state checked_at"));
  s.checked_at = checked;
  return s;
}

std::string serialize_client_state(const ClientState& s) {
  nlohmann::ordered_json doc;
  doc["registry"] = s.registry;
  doc["version"] = s.version;
  doc["index_sha256"] = s.index_sha256;
  doc["expires"] = format_timestamp(s.expires);
  doc["signer_key_id"] = s.signer_key_id;
  doc["pointer"] = s.pointer_text;
  doc["etag"] = s.etag;
  doc["etag_url"] = s.etag_url;
  doc["checked_at"] = format_timestamp(s.checked_at);
  return doc.dump(2) + "\n";
}

}  // namespace hotpatch::registry
