// RegistryClient: the polling state machine on top of registry_reader, with the verified index and
// the client state kept in a private cache. The state file is the commit point: it is written last,
// after every check, so a crash or a refusal leaves the previous trusted state in place. Nothing
// read from the cache is trusted for being there: entries are checked as files (cache_dir) and by
// their signed hashes, and a blob is applied from the very bytes that were hashed.
#include "registry/cache_dir.hpp"
#include "registry/client_state.hpp"
#include "registry/rollout.hpp"
#include "registry/encoding.hpp"
#include "registry/registry_reader.hpp"
#include "registry/trust_check.hpp"

#include <hotpatch/registry.hpp>

#include <algorithm>
#include <mutex>
#include <set>

namespace hotpatch {

using registry::CacheDir;
using registry::ClientState;
using registry::Index;
using registry::IndexEntry;
using registry::TimePoint;

namespace {

constexpr std::string_view state_file = "state.json";
constexpr std::size_t state_max_bytes = 64 * 1024;

std::string cached_index_name(std::string_view sha) { return "index-" + std::string(sha) + ".json"; }
std::string cached_blob_name(std::string_view sha) { return "blob-" + std::string(sha) + ".so"; }

AvailablePatch to_available(const IndexEntry& e) {
  return AvailablePatch{e.id, e.patch_version, e.about, e.target_build_id, e.target_module,
                        e.replaces, e.blob_sha256, e.blob_size, e.rollout_percent};
}

registry::FetchLimits limits(const RegistryConfig& c, std::size_t cap) {
  return registry::FetchLimits{cap, c.connect_timeout, c.total_timeout, c.low_speed_bytes, c.low_speed_time};
}

Status check_config(const RegistryConfig& c) {
  auto bad = [](const char* what, std::string why) { return make_error(ErrorCode::invalid_argument, what, why); };
  if (c.urls.empty()) return bad("urls", "at least one registry URL is needed");
  for (const auto& u : c.urls) {
    if (!(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("file://"))) {
      return bad("urls", "'" + u + "' is not an http://, https:// or file:// URL");
    }
  }
  if (!registry::is_plain_name(c.registry_name)) {
    return bad("registry_name", "'" + c.registry_name + "' must be letters, digits, '.', '_' or '-'");
  }
  if (c.trusted_keys.empty()) return bad("trusted_keys", "at least one public key is needed");
  if (c.max_pointer_bytes == 0 || c.max_index_bytes == 0 || c.max_blob_bytes == 0) {
    return bad("max_*_bytes", "size caps must be positive");
  }
  return {};
}

}  // namespace

// Hidden: only the public class is part of libhotpatch's ABI.
struct __attribute__((visibility("hidden"))) RegistryClient::Impl {
  RegistryConfig config;
  PatchApplier applier;
  RegistryClock clock;
  std::vector<registry::minisign::PublicKey> keys;
  CacheDir cache;
  std::optional<ClientState> state;
  std::optional<Index> index;
  mutable std::mutex mu;

  Impl(RegistryConfig c, PatchApplier a, RegistryClock k, std::vector<registry::minisign::PublicKey> ks,
       CacheDir d)
      : config(std::move(c)), applier(std::move(a)), clock(std::move(k)), keys(std::move(ks)), cache(std::move(d)) {}

  TimePoint now() const { return clock ? clock() : std::chrono::system_clock::now(); }

  registry::TrustAnchor anchor() const {
    registry::TrustAnchor a{keys, config.registry_name, std::nullopt, {}};
    if (state) {
      a.last_version = state->version;
      a.last_sha256 = state->index_sha256;
    }
    return a;
  }

  Status load_cache();
  Result<UpdateReport> update();
  Result<std::string> verified_blob(const IndexEntry& entry);
  Result<ApplyReport> apply_available();
  void forget_old_indexes(std::string_view keep_sha) const;
};

Status RegistryClient::Impl::load_cache() {
  HOTPATCH_LET(found, cache.read(state_file, state_max_bytes));
  if (!found) return {};
  auto parsed = registry::parse_client_state(*found);
  if (!parsed) {
    return make_error(ErrorCode::parse, cache.file(state_file),
                      "client state is damaged (" + parsed.error().message +
                          "); remove it to start over, which forgets the rollback protection it holds");
  }
  // State written for another registry name says nothing about this one.
  if (parsed->registry != config.registry_name) return {};
  state = std::move(*parsed);
  // The cached index is used only if it still verifies under the keys pinned now. Expiry is judged
  // when the cache is used, not here.
  registry::TrustAnchor a{keys, config.registry_name, state->version, state->index_sha256};
  auto pointer = registry::check_pointer(state->pointer_text, a, TimePoint::min());
  if (!pointer) return {};
  auto index_text = cache.read(cached_index_name(state->index_sha256), config.max_index_bytes);
  if (!index_text || !*index_text) return {};
  auto checked = registry::check_index(*pointer, **index_text);
  if (checked) index = std::move(*checked);
  return {};
}

void RegistryClient::Impl::forget_old_indexes(std::string_view keep_sha) const {
  std::string keep = cached_index_name(keep_sha);
  for (const auto& name : cache.names()) {
    if (name.starts_with("index-") && name.ends_with(".json") && name != keep) {
      // Best effort: a stale index left behind is never used, the state names the current one.
      (void)cache.remove(name);
    }
  }
}

Result<UpdateReport> RegistryClient::Impl::update() {
  TimePoint t = now();
  registry::ReadRequest req;
  req.urls = config.urls;
  req.anchor = anchor();
  req.pointer_limits = limits(config, config.max_pointer_bytes);
  req.index_limits = limits(config, config.max_index_bytes);
  // Without a cached index, a 304 would leave nothing to work from.
  if (state && index) {
    req.cached_pointer = state->pointer_text;
    req.etag = state->etag;
    req.etag_url = state->etag_url;
  }
  req.always_fetch_index = !index;
  auto read = registry::read_registry(req, t);
  UpdateReport report;
  if (!read) {
    if (!registry::is_unreachable(read.error()) || !index) return read.error();
    report.unreachable = read.error();
    report.index_version = state->version;
    report.expires = state->expires;
    return report;
  }
  const auto& p = read->checked.pointer;
  bool newer = read->kind == registry::RegistryRead::Kind::newer;
  bool got_index = read->index.has_value();
  if (got_index) HOTPATCH_TRY(cache.write(cached_index_name(p.index_sha256), read->index_text));
  ClientState next;
  next.registry = p.registry;
  next.version = p.version;
  next.index_sha256 = p.index_sha256;
  next.expires = p.expires;
  next.signer_key_id = registry::minisign::key_id_text(read->checked.signer.id);
  next.pointer_text = read->pointer_text;
  next.etag = read->etag;
  next.etag_url = read->url;
  next.checked_at = t;
  HOTPATCH_TRY(cache.write(state_file, registry::serialize_client_state(next)));
  state = std::move(next);
  if (got_index) {
    index = std::move(*read->index);
    forget_old_indexes(p.index_sha256);
  }
  report.changed = newer;
  report.index_version = p.version;
  report.expires = p.expires;
  report.source = read->url;
  return report;
}

Result<std::string> RegistryClient::Impl::verified_blob(const IndexEntry& entry) {
  if (entry.blob_size > config.max_blob_bytes) {
    return make_error(ErrorCode::too_large, "blob of patch " + entry.id + " v" + std::to_string(entry.patch_version),
                      "is " + std::to_string(entry.blob_size) + " bytes, above the cap of " +
                          std::to_string(config.max_blob_bytes));
  }
  std::string name = cached_blob_name(entry.blob_sha256);
  // The hash is checked on the bytes in memory that are handed to the applier, never on a file
  // that is read again later: the cache file can change between the check and the load.
  auto cached = cache.read(name, entry.blob_size);
  if (cached && *cached && registry::check_blob(entry, registry::as_bytes(**cached))) return std::move(**cached);
  HOTPATCH_LET(bytes, registry::fetch_blob(config.urls, entry, limits(config, entry.blob_size)));
  HOTPATCH_TRY(registry::check_blob(entry, registry::as_bytes(bytes)));
  HOTPATCH_TRY(cache.write(name, bytes));
  return bytes;
}

Result<ApplyReport> RegistryClient::Impl::apply_available() {
  ApplyReport report;
  TimePoint t = now();
  if (!state || t < state->checked_at || t - state->checked_at >= config.ttl) {
    HOTPATCH_LET(refresh, update());
    report.refresh = std::move(refresh);
  }
  if (!index) return make_error(ErrorCode::network, "registry", "no verified index is cached yet");
  if (state->expires <= t) {
    return make_error(ErrorCode::expired, "registry",
                      "the cached index version " + std::to_string(state->version) + " expired at " +
                          registry::format_timestamp(state->expires) +
                          " and no newer one could be fetched; staying at the current patch level");
  }
  auto build_ids = applier.loaded_build_ids ? applier.loaded_build_ids() : std::vector<std::string>{};
  std::set<std::string> loaded(build_ids.begin(), build_ids.end());
  std::vector<const IndexEntry*> wanted;
  std::optional<Result<std::string>> host;  // looked up once, and only for a staged entry
  for (const auto& e : index->patches) {
    if (!loaded.contains(e.target_build_id)) continue;
    std::uint32_t have = applier.applied_version ? applier.applied_version(e.id) : 0;
    if (e.patch_version <= have) continue;
    if (e.rollout_percent < 100) {
      if (!host) host = registry::host_id(config.host_id);
      if (!*host) {
        report.held_back.push_back(PatchFailure{to_available(e), (*host).error()});
        continue;
      }
      if (!registry::rollout_includes(**host, e.id, e.rollout_percent)) {
        report.held_back.push_back(PatchFailure{
            to_available(e), make_error(ErrorCode::not_patchable, e.id,
                                        "staged to " + std::to_string(e.rollout_percent) + "% of hosts; host '" + **host +
                                            "' is not among them yet")});
        continue;
      }
    }
    wanted.push_back(&e);
  }
  // Verify every blob before applying any, so a bad one leaves the process untouched.
  std::vector<std::string> blobs;
  for (const auto* e : wanted) {
    HOTPATCH_LET(bytes, verified_blob(*e));
    blobs.push_back(std::move(bytes));
  }
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const IndexEntry& e = *wanted[i];
    VerifiedPatch patch{e.id, e.patch_version, e.blob_sha256,
                        "registry '" + config.registry_name + "' blob sha256:" + e.blob_sha256,
                        registry::as_bytes(blobs[i])};
    Status s = applier.apply ? applier.apply(patch)
                             : Status(make_error(ErrorCode::invalid_argument, "applier", "has no apply function"));
    if (s) {
      report.applied.push_back(to_available(*wanted[i]));
    } else {
      report.failed.push_back(PatchFailure{to_available(*wanted[i]), s.error()});
    }
  }
  return report;
}

Result<RegistryClient> RegistryClient::create(RegistryConfig config, PatchApplier applier, RegistryClock clock) {
  HOTPATCH_TRY(check_config(config));
  std::vector<registry::minisign::PublicKey> keys;
  for (std::size_t i = 0; i < config.trusted_keys.size(); ++i) {
    auto key = registry::minisign::parse_public_key(config.trusted_keys[i]);
    if (!key) {
      return make_error(ErrorCode::parse, "trusted_keys[" + std::to_string(i) + "]", key.error().message);
    }
    keys.push_back(*key);
  }
  HOTPATCH_LET(cache, CacheDir::open(config.cache_dir));
  auto impl = std::make_unique<Impl>(std::move(config), std::move(applier), std::move(clock), std::move(keys),
                                     std::move(cache));
  HOTPATCH_TRY(impl->load_cache());
  return RegistryClient(std::move(impl));
}

RegistryClient::RegistryClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryClient::RegistryClient(RegistryClient&&) noexcept = default;
RegistryClient& RegistryClient::operator=(RegistryClient&&) noexcept = default;
RegistryClient::~RegistryClient() = default;

Result<UpdateReport> RegistryClient::update() {
  std::lock_guard lock(impl_->mu);
  return impl_->update();
}

Result<ApplyReport> RegistryClient::apply_available() {
  std::lock_guard lock(impl_->mu);
  return impl_->apply_available();
}

std::vector<AvailablePatch> RegistryClient::available() const {
  std::lock_guard lock(impl_->mu);
  std::vector<AvailablePatch> out;
  if (impl_->index) {
    for (const auto& e : impl_->index->patches) out.push_back(to_available(e));
  }
  return out;
}

std::uint64_t RegistryClient::index_version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->index ? impl_->index->version : 0;
}

std::optional<std::chrono::system_clock::time_point> RegistryClient::last_checked() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->state) return std::nullopt;
  return impl_->state->checked_at;
}

std::vector<Error> RegistryClient::take_cache_warnings() {
  std::lock_guard lock(impl_->mu);
  return impl_->cache.take_warnings();
}

}  // namespace hotpatch
