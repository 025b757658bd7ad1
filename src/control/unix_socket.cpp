#include "control/unix_socket.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace hotpatch::control {

std::string errno_text(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

namespace {

Result<sockaddr_un> address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return make_error(ErrorCode::invalid_argument, path,
                      "socket path is empty or longer than " + std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Result<Fd> listen_unix(const std::string& path, mode_t mode) {
  // Bound and listening under a temporary name first, then renamed into place: a client never finds
  // the final name without a listener behind it (it would take the socket for a stale one).
  const auto slash = path.rfind('/');
  const std::string temporary = path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".new";
  HOTPATCH_LET(addr, address_of(temporary));
  HOTPATCH_TRY(address_of(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(ErrorCode::io, path, "socket: " + errno_text(errno));
  ::unlink(temporary.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return make_error(ErrorCode::io, path, "bind: " + errno_text(errno));
  }
  // The directory is private already; the mode keeps the socket private even if someone widens it.
  if (::chmod(temporary.c_str(), mode) != 0 || ::listen(fd.get(), 16) != 0 ||
      ::rename(temporary.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temporary.c_str());
    return make_error(ErrorCode::io, path, "chmod/listen/rename: " + errno_text(err));
  }
  return fd;
}

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return make_error(ErrorCode::permission, "peer", "SO_PEERCRED: " + errno_text(errno));
  }
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<Fd> connect_unix(const std::string& path, int* err_out) {
  HOTPATCH_LET(addr, address_of(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(ErrorCode::io, path, "socket: " + errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err_out != nullptr) *err_out = err;
    return make_error(err == EACCES || err == EPERM ? ErrorCode::permission : ErrorCode::io, path,
                      "connect: " + errno_text(err));
  }
  return fd;
}

Status send_all(int fd, std::string_view data, int pass_fd, std::chrono::milliseconds timeout, int* err_out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t done = 0;
  while (done < data.size()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(ErrorCode::protocol, "send", "peer did not take the data in time");
    pollfd p{fd, POLLOUT, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return make_error(ErrorCode::io, "send", "poll: " + errno_text(errno));
    if (r == 0) continue;
    iovec iov{const_cast<char*>(data.data() + done), data.size() - done};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (done == 0 && pass_fd >= 0) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) continue;
      if (err_out != nullptr) *err_out = err;
      return make_error(ErrorCode::io, "send", errno_text(err));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace hotpatch::control
