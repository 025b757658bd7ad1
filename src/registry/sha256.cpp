#include "registry/sha256.hpp"

#include "registry/encoding.hpp"

#include <sodium.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace hotpatch::registry {

std::string sha256_hex(std::span<const std::uint8_t> data) {
  ensure_sodium();
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), data.data(), data.size());
  return to_hex(digest);
}

Result<FileDigest> sha256_file(const std::string& path) {
  ensure_sodium();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io, path, std::string("cannot open: ") + std::strerror(errno));
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  FileDigest out;
  std::array<std::uint8_t, 64 * 1024> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::io, path, std::string("cannot read: ") + std::strerror(err));
    }
    if (n == 0) break;
    crypto_hash_sha256_update(&state, buf.data(), static_cast<unsigned long long>(n));
    out.size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state, digest.data());
  out.sha256 = to_hex(digest);
  return out;
}

}  // namespace hotpatch::registry
