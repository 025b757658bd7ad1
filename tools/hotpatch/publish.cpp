// hotpatch publish: add patch objects to a registry directory and sign the next index version.
#include "hotpatch/common.hpp"

#include "registry/cache_dir.hpp"
#include "registry/publisher.hpp"

#include <hotpatch/runtime.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace hotpatch::cli {
namespace {

struct PublishOptions {
  std::string registry_dir;
  std::string key_file;
  std::string name;
  int expires_days = 7;
  std::vector<std::string> patches;
  std::string rollout;             ///< "10%" or "10"
  std::vector<std::string> stage;  ///< ids already published whose share --rollout sets
  bool json = false;
};

// "10%" or "10" -> 10; 1 to 100.
Result<std::uint32_t> parse_share(const std::string& text) {
  std::string digits = text.ends_with('%') ? text.substr(0, text.size() - 1) : text;
  if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      std::stoul(digits) == 0 || std::stoul(digits) > 100)
    return make_error(ErrorCode::invalid_argument, "--rollout", "'" + text + "' is not a share from 1% to 100%");
  return static_cast<std::uint32_t>(std::stoul(digits));
}

Result<registry::PublishItem> describe(const std::string& path) {
  HOTPATCH_LET(m, read_patch_manifest(path));
  registry::PublishItem item{path, m.id, m.version, m.about, m.target_build_id, m.target_module, {}};
  for (const auto& r : m.replaces) item.replaces.push_back(r.target_symbol);
  return item;
}

int run_publish(const PublishOptions& o) {
  auto key_text = registry::read_file(o.key_file, 4096);
  if (!key_text) return report(key_text.error());
  auto key = registry::minisign::parse_secret_key(*key_text);
  if (!key) return report(make_error(key.error().code, o.key_file, key.error().message));
  registry::PublishRequest req;
  req.registry_dir = o.registry_dir;
  req.key = *key;
  req.registry_name = o.name;
  req.validity = std::chrono::hours(24) * o.expires_days;
  for (const auto& path : o.patches) {
    auto item = describe(path);
    if (!item) return report(item.error());
    req.patches.push_back(std::move(*item));
  }
  if (!o.rollout.empty()) {
    auto share = parse_share(o.rollout);
    if (!share) return report(share.error());
    for (const auto& item : req.patches) req.rollout[item.id] = *share;
    for (const auto& id : o.stage) req.rollout[id] = *share;
  }
  auto r = registry::publish(req);
  if (!r) return report(r.error());
  if (o.json) {
    nlohmann::ordered_json out{{"registry", r->index.registry},
                               {"version", r->index.version},
                               {"index_sha256", r->index_sha256},
                               {"expires", registry::format_timestamp(r->index.expires)},
                               {"new_blobs", r->new_blobs}};
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  fmt::print("published registry '{}' index version {} (sha256 {}), valid until {}\n", r->index.registry,
             r->index.version, r->index_sha256, registry::format_timestamp(r->index.expires));
  for (const auto& item : req.patches) fmt::print("  {} version {} from {}\n", item.id, item.version, item.path);
  for (const auto& e : r->index.patches)
    if (e.rollout_percent < 100) fmt::print("  {} version {}: staged to {}% of hosts\n", e.id, e.patch_version, e.rollout_percent);
  return exit_ok;
}

}  // namespace

void add_publish(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<PublishOptions>();
  auto* cmd = app.add_subcommand(
      "publish",
      "Publish patch objects to a registry directory: blobs, then the new signed index, then index.minisig.\n"
      "With no patches, re-signs the current entries with a new expiry.");
  cmd->add_option("--registry", o->registry_dir, "Registry directory (created if missing)")->required();
  cmd->add_option("--key", o->key_file, "Unencrypted secret key (hotpatch keygen or minisign -G -W)")->required();
  cmd->add_option("--name", o->name, "Registry name (required for a new registry; must match otherwise)");
  cmd->add_option("--expires-days", o->expires_days, "Days until clients refuse this index")
      ->capture_default_str()
      ->check(CLI::Range(1, 366));
  cmd->add_option("patches", o->patches, "Patch objects (.so) to add, older versions first");
  auto* rollout = cmd->add_option("--rollout", o->rollout,
                                  "Stage the given patches (and each --id) to this share of hosts, e.g. 10%; "
                                  "100% promotes them to every host");
  cmd->add_option("--id", o->stage, "A published patch id whose share --rollout sets (promote or stage again)")
      ->needs(rollout);
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o, &run] {
    if (!o->rollout.empty() && o->patches.empty() && o->stage.empty())
      throw CLI::ValidationError("--rollout", "names no patch: give patch files or --id");
    run = [o] { return run_publish(*o); };
  });
}

}  // namespace hotpatch::cli
