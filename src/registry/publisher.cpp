#include "registry/publisher.hpp"

#include <algorithm>

#include "registry/cache_dir.hpp"
#include "registry/encoding.hpp"
#include "registry/registry_reader.hpp"
#include "registry/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace hotpatch::registry {
namespace {

constexpr std::size_t max_patch_bytes = 256u * 1024 * 1024;
constexpr std::size_t max_index_bytes = 64u * 1024 * 1024;

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Two publishers at once would both compute "version N+1"; the lock makes them take turns.
class PublishLock {
 public:
  static Result<PublishLock> take(const std::string& dir) {
    std::string path = dir + "/.publish.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(ErrorCode::io, path, std::string("cannot open lock: ") + std::strerror(errno));
    if (::flock(fd, LOCK_EX) != 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::io, path, std::string("cannot lock: ") + std::strerror(err));
    }
    return PublishLock(fd);
  }
  PublishLock(PublishLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  PublishLock& operator=(PublishLock&&) = delete;
  ~PublishLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit PublishLock(int fd) : fd_(fd) {}
  int fd_;
};

Status merge(std::vector<IndexEntry>& entries, IndexEntry next) {
  for (auto& e : entries) {
    if (e.id != next.id) continue;
    if (e.patch_version > next.patch_version) {
      return make_error(ErrorCode::version_not_newer, next.id,
                        "version " + std::to_string(e.patch_version) + " is already published; version " +
                            std::to_string(next.patch_version) + " would be a downgrade");
    }
    if (e.patch_version == next.patch_version && e.blob_sha256 != next.blob_sha256) {
      return make_error(ErrorCode::version_not_newer, next.id,
                        "version " + std::to_string(next.patch_version) +
                            " is already published with different content; give the patch a new version");
    }
    // A new version keeps its id's staged share: publishing a fix to a staged patch does not widen it.
    next.rollout_percent = e.rollout_percent;
    e = std::move(next);
    return {};
  }
  entries.push_back(std::move(next));
  return {};
}

Status sign_blob(const PublishRequest& req, const std::string& registry, const IndexEntry& e) {
  const std::string sig_file = req.registry_dir + "/" + blob_signature_path(e.blob_sha256);
  HOTPATCH_LET(bytes, read_file(req.registry_dir + "/" + blob_path(e.blob_sha256), max_patch_bytes));
  if (sha256_hex(as_bytes(bytes)) != e.blob_sha256)
    return make_error(ErrorCode::integrity, req.registry_dir + "/" + blob_path(e.blob_sha256),
                      "does not hash to the name the index gives it");
  if (file_exists(sig_file)) {
    auto text = read_file(sig_file, 64 * 1024);
    auto sig = text ? minisign::parse_signature(*text) : Result<minisign::Signature>(text.error());
    if (sig && sig->key_id == req.key.public_key().id && minisign::verify_data(*sig, req.key.public_key(), as_bytes(bytes)))
      return {};
  }
  const std::string comment = "hotpatch-patch registry:" + registry + " id:" + e.id + " version:" +
                              std::to_string(e.patch_version) + " sha256:" + e.blob_sha256;
  auto sig = minisign::sign(req.key, as_bytes(bytes), comment, "hotpatch registry " + registry + " patch " + e.id);
  return write_file_atomic(sig_file, minisign::format_signature(sig), 0644);
}

}  // namespace

Result<std::optional<Index>> read_published_index(const std::string& dir, const minisign::PublicKey& key) {
  std::string pointer_file = dir + "/" + std::string(pointer_path);
  if (!file_exists(pointer_file)) return std::optional<Index>{};
  HOTPATCH_LET(pointer_text, read_file(pointer_file, 64 * 1024));
  HOTPATCH_LET(sig, minisign::parse_signature(pointer_text));
  if (sig.key_id != key.id) {
    return make_error(ErrorCode::untrusted_key, pointer_file,
                      "the registry is signed with key " + minisign::key_id_text(sig.key_id) +
                          ", not with this key (" + minisign::key_id_text(key.id) +
                          "); its clients would refuse the new index");
  }
  HOTPATCH_LET(sig_pointer, parse_pointer_comment(sig.trusted_comment));
  const minisign::PublicKey keys[] = {key};
  TrustAnchor anchor{keys, sig_pointer.registry, std::nullopt, {}};
  HOTPATCH_LET(checked, check_pointer(pointer_text, anchor, TimePoint::min()));
  HOTPATCH_LET(index_text, read_file(dir + "/" + index_path(checked.pointer.index_sha256), max_index_bytes));
  HOTPATCH_LET(index, check_index(checked, index_text));
  return std::optional<Index>(std::move(index));
}

Result<PublishResult> publish(const PublishRequest& req) {
  HOTPATCH_TRY(make_directories(req.registry_dir + "/blobs/sha256", 0755));
  HOTPATCH_TRY(make_directories(req.registry_dir + "/index", 0755));
  HOTPATCH_LET(lock, PublishLock::take(req.registry_dir));
  HOTPATCH_LET(current, read_published_index(req.registry_dir, req.key.public_key()));

  Index next;
  if (current) {
    if (!req.registry_name.empty() && req.registry_name != current->registry) {
      return make_error(ErrorCode::invalid_argument, req.registry_dir,
                        "holds registry '" + current->registry + "', not '" + req.registry_name + "'");
    }
    next = *current;
    next.version = current->version + 1;
  } else {
    if (req.registry_name.empty()) {
      return make_error(ErrorCode::invalid_argument, req.registry_dir, "is a new registry; give it a name");
    }
    next.registry = req.registry_name;
    next.version = 1;
  }
  if (!is_plain_name(next.registry)) {
    return make_error(ErrorCode::invalid_argument, next.registry,
                      "registry names may hold letters, digits, '.', '_' and '-' only");
  }
  next.published = std::chrono::floor<std::chrono::seconds>(req.now);
  next.expires = next.published + req.validity;

  PublishResult result;
  for (const auto& item : req.patches) {
    if (!is_plain_name(item.id)) {
      return make_error(ErrorCode::invalid_argument, item.path, "patch id '" + item.id + "' is not a plain name");
    }
    if (item.version == 0) return make_error(ErrorCode::invalid_argument, item.path, "patch version must be 1 or more");
    HOTPATCH_LET(bytes, read_file(item.path, max_patch_bytes));
    IndexEntry entry{item.id, item.version, item.about, item.target_build_id, item.target_module,
                     item.replaces, sha256_hex(as_bytes(bytes)), bytes.size()};
    if (entry.blob_size == 0) return make_error(ErrorCode::invalid_argument, item.path, "is empty");
    std::string blob_file = req.registry_dir + "/" + blob_path(entry.blob_sha256);
    bool have_blob = false;
    if (file_exists(blob_file)) {
      auto d = sha256_file(blob_file);
      have_blob = d && d->sha256 == entry.blob_sha256;
    }
    std::string sha = entry.blob_sha256;
    HOTPATCH_TRY(merge(next.patches, std::move(entry)));
    if (!have_blob) {
      HOTPATCH_TRY(write_file_atomic(blob_file, bytes, 0644));
      result.new_blobs.push_back(sha);
    }
  }

  for (const auto& [id, share] : req.rollout) {
    if (share == 0 || share > 100)
      return make_error(ErrorCode::invalid_argument, id, "rollout share " + std::to_string(share) + "% is not between 1% and 100%");
    auto e = std::find_if(next.patches.begin(), next.patches.end(), [&](const IndexEntry& x) { return x.id == id; });
    if (e == next.patches.end())
      return make_error(ErrorCode::invalid_argument, id, "is not in registry '" + next.registry + "': nothing to stage");
    e->rollout_percent = share;
  }

  // Each blob's own signature, for the processes an agent sends it to; blobs of an older registry
  // get theirs at its next publish.
  for (const auto& e : next.patches) HOTPATCH_TRY(sign_blob(req, next.registry, e));

  std::string index_text = serialize_index(next);
  result.index_sha256 = sha256_hex(as_bytes(index_text));
  HOTPATCH_TRY(write_file_atomic(req.registry_dir + "/" + index_path(result.index_sha256), index_text, 0644));
  IndexPointer pointer{next.registry, next.version, result.index_sha256, next.expires};
  auto sig = minisign::sign(req.key, as_bytes(index_text), format_pointer_comment(pointer),
                            "hotpatch registry " + next.registry + " index version " + std::to_string(next.version));
  const std::string pointer_file = req.registry_dir + "/" + std::string(pointer_path);
  struct stat before{};
  const bool had_pointer = ::stat(pointer_file.c_str(), &before) == 0;
  HOTPATCH_TRY(write_file_atomic(pointer_file, minisign::format_signature(sig), 0644));
  // Static servers derive the ETag from mtime (whole seconds) and size, and pointers of one registry
  // tend to have the same size: two publishes within a second would look unchanged to a conditional
  // GET. Move the new pointer's mtime past the old one's so its ETag differs.
  struct stat after{};
  if (had_pointer && ::stat(pointer_file.c_str(), &after) == 0 && after.st_mtim.tv_sec <= before.st_mtim.tv_sec) {
    const timespec times[2] = {{0, UTIME_OMIT}, {before.st_mtim.tv_sec + 1, 0}};
    if (::utimensat(AT_FDCWD, pointer_file.c_str(), times, 0) != 0)
      return make_error(ErrorCode::io, pointer_file, std::string("cannot advance its mtime: ") + std::strerror(errno));
  }
  result.index = std::move(next);
  return result;
}

}  // namespace hotpatch::registry
