// What a client remembers between polls: the last index pointer it accepted (the signed minisig text
// itself, so rollback and equivocation checks rest on signed data) and when it last reached a mirror.
#pragma once

#include "registry/timestamp.hpp"

#include <hotpatch/error.hpp>

#include <string>
#include <string_view>

namespace hotpatch::registry {

struct ClientState {
  std::string registry;
  std::uint64_t version = 0;
  std::string index_sha256;
  TimePoint expires;
  std::string signer_key_id;
  std::string pointer_text;  ///< the accepted index.minisig, verbatim
  std::string etag;          ///< ETag of pointer_text at etag_url, for conditional GETs
  std::string etag_url;
  TimePoint checked_at;      ///< last time a mirror answered and the pointer passed every check
};

Result<ClientState> parse_client_state(std::string_view json_text);
std::string serialize_client_state(const ClientState& state);

}  // namespace hotpatch::registry
