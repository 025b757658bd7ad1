#include "registry/registry_reader.hpp"

#include "registry/encoding.hpp"

namespace hotpatch::registry {
namespace {

Result<RegistryRead> read_one(const std::string& url, const ReadRequest& req, TimePoint now) {
  RegistryRead out;
  out.url = url;
  std::string_view etag = url == req.etag_url && !req.cached_pointer.empty() ? req.etag : std::string_view{};
  HOTPATCH_LET(pointer, fetch(join_url(url, pointer_path), req.pointer_limits, etag));
  if (pointer.not_modified) {
    out.kind = RegistryRead::Kind::not_modified;
    out.pointer_text = std::string(req.cached_pointer);
  } else {
    out.pointer_text = std::move(pointer.body);
  }
  out.etag = std::move(pointer.etag);
  // A 304 still goes through every check: a replayed "not modified" must not outlive the expiry.
  HOTPATCH_LET(checked, check_pointer(out.pointer_text, req.anchor, now));
  out.checked = std::move(checked);
  bool same = req.anchor.last_version && out.checked.pointer.version == *req.anchor.last_version;
  if (same && out.kind != RegistryRead::Kind::not_modified) out.kind = RegistryRead::Kind::unchanged;
  if (same && !req.always_fetch_index) return out;
  if (!same) out.kind = RegistryRead::Kind::newer;
  HOTPATCH_LET(index_body, fetch(join_url(url, index_path(out.checked.pointer.index_sha256)), req.index_limits));
  HOTPATCH_LET(index, check_index(out.checked, index_body.body));
  out.index = std::move(index);
  out.index_text = std::move(index_body.body);
  return out;
}

}  // namespace


Result<RegistryRead> read_registry(const ReadRequest& req, TimePoint now) {
  if (req.urls.empty()) return make_error(ErrorCode::invalid_argument, "registry", "no registry URL configured");
  std::optional<Error> refusal;
  std::optional<Error> unreachable;
  for (const auto& url : req.urls) {
    auto r = read_one(url, req, now);
    if (r) return r;
    if (is_unreachable(r.error())) {
      unreachable = r.error();
    } else if (!refusal) {
      refusal = r.error();
    }
  }
  return refusal ? *refusal : *unreachable;
}

Result<std::string> fetch_blob(std::span<const std::string> urls, const IndexEntry& entry, FetchLimits limits) {
  if (urls.empty()) return make_error(ErrorCode::invalid_argument, "registry", "no registry URL configured");
  // The signed size is the exact cap: a longer answer is refused while it arrives.
  limits.max_bytes = entry.blob_size;
  std::optional<Error> refusal;
  std::optional<Error> unreachable;
  for (const auto& url : urls) {
    auto body = fetch(join_url(url, blob_path(entry.blob_sha256)), limits);
    if (!body) {
      if (body.error().code == ErrorCode::too_large) {
        Error e = make_error(ErrorCode::too_large, "blob of patch " + entry.id + " v" +
                                 std::to_string(entry.patch_version),
                             "is larger than the " + std::to_string(entry.blob_size) + " bytes the signed index says");
        if (!refusal) refusal = e;
      } else if (is_unreachable(body.error())) {
        unreachable = body.error();
      } else if (!refusal) {
        refusal = body.error();
      }
      continue;
    }
    auto ok = check_blob(entry, as_bytes(body->body));
    if (ok) return std::move(body->body);
    if (!refusal) refusal = ok.error();
  }
  return refusal ? *refusal : *unreachable;
}

}  // namespace hotpatch::registry
