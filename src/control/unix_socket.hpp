// Unix-domain stream sockets for the control endpoint: an owning descriptor, peer credentials, and
// the send/receive calls that carry one descriptor (a patch file) next to the bytes.
#pragma once

#include "support/unique_fd.hpp"

#include <hotpatch/error.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace hotpatch::control {

using Fd = UniqueFd;

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// errno as a sentence ("Permission denied").
std::string errno_text(int err);

/// A non-blocking listening socket bound to `path` (which must not exist), then chmod'ed to `mode`.
Result<Fd> listen_unix(const std::string& path, mode_t mode);

/// The kernel's record of who is at the other end (SO_PEERCRED), taken at connect time.
Result<PeerCredentials> peer_credentials(int fd);

/// A blocking client connection; errors keep the errno text and name the path.
Result<Fd> connect_unix(const std::string& path, int* err_out = nullptr);

/// Sends all of `data`, with `pass_fd` (if >= 0) attached to the first byte, within `timeout`.
/// A failed send stores its errno in `err_out` when given.
Status send_all(int fd, std::string_view data, int pass_fd, std::chrono::milliseconds timeout,
                int* err_out = nullptr);

}  // namespace hotpatch::control
