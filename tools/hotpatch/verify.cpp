// hotpatch verify: check a registry as a client would, including every blob's hash and size.
#include "hotpatch/common.hpp"
#include "hotpatch/registry_options.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace hotpatch::cli {
namespace {

struct VerifyOptions {
  RegistryOptions registry;
  std::size_t max_blob_bytes = 64 * 1024 * 1024;
  bool json = false;
};

int run_verify(const VerifyOptions& o) {
  auto v = read_verified(o.registry);
  if (!v) return report(v.error());
  const auto& index = *v->read.index;
  std::vector<std::string> urls{v->url};
  for (const auto& e : index.patches) {
    if (e.blob_size > o.max_blob_bytes) {
      return report(make_error(ErrorCode::too_large, "blob of patch " + e.id,
                               "is " + std::to_string(e.blob_size) + " bytes, above --max-blob-bytes"));
    }
    auto blob = registry::fetch_blob(urls, e, fetch_limits(o.registry, e.blob_size));
    if (!blob) return report(blob.error());
  }
  const auto& p = v->read.checked.pointer;
  std::string key_id = registry::minisign::key_id_text(v->read.checked.signer.id);
  if (o.json) {
    nlohmann::ordered_json out{{"ok", true},
                               {"registry", p.registry},
                               {"version", p.version},
                               {"index_sha256", p.index_sha256},
                               {"expires", registry::format_timestamp(p.expires)},
                               {"signed_by", key_id},
                               {"patches", index.patches.size()}};
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("OK: registry '{}' index version {} signed by key {}, valid until {}; {} patch(es), every blob "
               "matches its signed hash and size\n",
               p.registry, p.version, key_id, registry::format_timestamp(p.expires), index.patches.size());
  }
  return exit_ok;
}

}  // namespace

void add_verify(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<VerifyOptions>();
  auto* cmd = app.add_subcommand("verify",
                                 "Verify a registry: signature, key, name, expiry, index hash and every blob");
  o->registry.add_to(*cmd);
  cmd->add_option("--max-blob-bytes", o->max_blob_bytes, "Refuse a blob larger than this")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o, &run] { run = [o] { return run_verify(*o); }; });
}

}  // namespace hotpatch::cli
