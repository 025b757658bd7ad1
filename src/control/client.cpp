#include "control/client.hpp"

#include "control/discovery.hpp"
#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <optional>
#include <thread>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hotpatch::control {

Result<Response> call(pid_t pid, const std::string& socket, const Request& request, const CallOptions& options) {
  const std::string who = "process " + std::to_string(pid);
  int err = 0;
  auto conn = connect_unix(socket, &err);
  if (!conn) {
    if (err == ECONNREFUSED) {
      const bool removed = remove_unserved_socket(socket);
      return make_error(ErrorCode::io, who,
                        "nobody serves its control socket " + socket + " (left by a process that is gone)" +
                            (removed ? "; removed it" : ""));
    }
    if (err == EACCES || err == EPERM) {
      return make_error(ErrorCode::permission, socket, "permission denied: the socket belongs to another user");
    }
    if (err == ENOENT) return make_error(ErrorCode::io, who, "its control socket " + socket + " disappeared");
    return conn.error();
  }
  // The socket must be served by the process we mean, not by whoever reuses a file name.
  auto peer = peer_credentials(conn->get());
  if (!peer) return peer.error();
  if (peer->pid != pid) {
    return make_error(ErrorCode::permission, socket,
                      "is served by pid " + std::to_string(peer->pid) + ", not by " + std::to_string(pid));
  }
  // A peer that refuses us closes the socket at once: our send may already see that (EPIPE or
  // ECONNRESET), or the read after it does. Either way it is the same answer.
  auto closed_without_answer = [&]() -> Error {
    // Give a dying process a moment to be reaped before deciding which of the two happened.
    for (int i = 0; i < 20 && process_alive(pid); ++i) ::usleep(10'000);
    if (!process_alive(pid)) return make_error(ErrorCode::io, who, "exited before answering");
    return make_error(ErrorCode::io, who,
                      "closed the connection without answering (only its own user or root gets an answer)");
  };
  int send_errno = 0;
  if (auto sent = send_all(conn->get(), format_request(request) + "\n", options.pass_fd, options.timeout, &send_errno);
      !sent) {
    if (send_errno == EPIPE || send_errno == ECONNRESET) return closed_without_answer();
    return sent.error();
  }

  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::string in;
  char buf[65536];
  for (;;) {
    if (auto nl = in.find('\n'); nl != std::string::npos) return parse_response(std::string_view(in).substr(0, nl));
    if (in.size() > max_response_bytes) {
      return make_error(ErrorCode::too_large, who, "sent a response larger than " + std::to_string(max_response_bytes) + " bytes");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return make_error(ErrorCode::network, who,
                        "did not answer within " + std::to_string(options.timeout.count() / 1000.0).substr(0, 4) + " s");
    }
    pollfd p{conn->get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return make_error(ErrorCode::io, who, "poll: " + errno_text(errno));
    if (r <= 0) continue;
    ssize_t n = ::recv(conn->get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return closed_without_answer();
    in.append(buf, static_cast<std::size_t>(n));
  }
}

std::vector<Result<Response>> call_each(const std::vector<Endpoint>& endpoints, const Request& request,
                                        const CallOptions& options, std::size_t parallel) {
  std::vector<std::optional<Result<Response>>> answers(endpoints.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < endpoints.size();) {
      answers[i].emplace(call(endpoints[i].pid, endpoints[i].socket, request, options));
    }
  };
  {
    std::vector<std::jthread> workers;
    const std::size_t n = std::clamp<std::size_t>(std::min(parallel, endpoints.size()), 1, 64);
    for (std::size_t i = 1; i < n; ++i) workers.emplace_back(work);
    work();
  }
  std::vector<Result<Response>> out;
  out.reserve(answers.size());
  for (auto& a : answers) out.push_back(std::move(*a));
  return out;
}

Result<int> sealed_copy(const std::string& name, std::string_view data) {
  int fd = ::memfd_create(("hotpatch:" + name).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return make_error(ErrorCode::io, "memfd_create", std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return make_error(ErrorCode::io, "memfd", std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    const int err = errno;
    ::close(fd);
    return make_error(ErrorCode::io, "memfd", std::string("cannot seal: ") + std::strerror(err));
  }
  return fd;
}

Result<Response> call_pid(pid_t pid, const Request& request, const CallOptions& options) {
  HOTPATCH_LET(socket, find_socket(pid));
  return call(pid, socket, request, options);
}

}  // namespace hotpatch::control
