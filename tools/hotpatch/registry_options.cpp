#include "hotpatch/registry_options.hpp"

#include <chrono>

namespace hotpatch::cli {

void RegistryOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--registry", location, "Registry URL (http://, https://, file://) or directory")->required();
  cmd.add_option("--pubkey", pubkeys, "Trusted public key: a .pub file or the base64 key line (repeatable)")
      ->required();
  cmd.add_option("--name", name, "Registry name the index must be signed for")->required();
  cmd.add_option("--max-index-bytes", max_index_bytes, "Refuse an index larger than this")
      ->capture_default_str();
  cmd.add_option("--timeout", timeout_seconds, "Seconds allowed for each download")->capture_default_str();
}

registry::FetchLimits fetch_limits(const RegistryOptions& options, std::size_t cap) {
  registry::FetchLimits l;
  l.max_bytes = cap;
  l.total_timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_seconds * 1000));
  return l;
}

Result<VerifiedRegistry> read_verified(const RegistryOptions& options) {
  HOTPATCH_LET(keys, load_public_keys(options.pubkeys));
  if (!registry::is_plain_name(options.name)) {
    return make_error(ErrorCode::invalid_argument, options.name, "is not a valid registry name");
  }
  VerifiedRegistry out;
  out.url = registry::url_from_location(options.location);
  std::vector<std::string> urls{out.url};
  registry::ReadRequest req;
  req.urls = urls;
  req.anchor = registry::TrustAnchor{keys, options.name, std::nullopt, {}};
  req.pointer_limits = fetch_limits(options, 4096);
  req.index_limits = fetch_limits(options, options.max_index_bytes);
  req.always_fetch_index = true;
  HOTPATCH_LET(read, registry::read_registry(req, std::chrono::system_clock::now()));
  out.read = std::move(read);
  return out;
}

}  // namespace hotpatch::cli
