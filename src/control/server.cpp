#include "control/server.hpp"

#include "control/socket_dir.hpp"
#include "support/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace hotpatch::control {
namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
  Fd fd;
  PeerCredentials peer;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  Fd passed;
  Clock::time_point deadline;
  bool writing = false;
  bool done = false;
};

std::string who(const PeerCredentials& p) {
  return "pid " + std::to_string(p.pid) + " (uid " + std::to_string(p.uid) + ")";
}

// Reads what is there; keeps at most one attached descriptor and closes any other the client sent.
void read_some(Connection& c) {
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(c.fd.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) c.done = true;
    return;
  }
  for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
      if (c.passed.valid()) ::close(fd);
      else c.passed.reset(fd);
    }
  }
  if (n == 0) {
    c.done = true;  // EOF: a complete request would have ended with a newline
    return;
  }
  c.in.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& dir, RequestHandler handler,
                                                            ServerLimits limits) {
  HOTPATCH_TRY(prepare_socket_dir(dir));
  for (pid_t dead : remove_stale_sockets(dir)) {
    log::info("control: removed the stale socket of dead process " + std::to_string(dead) + " in " + dir);
  }
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->path_ = socket_path(dir, ::getpid());
  // A socket under our own pid can only be left by an earlier process that had this pid.
  ::unlink(s->path_.c_str());
  HOTPATCH_LET(listener, listen_unix(s->path_, 0600));
  s->listener_ = std::move(listener);
  struct stat st {};
  if (::stat(s->path_.c_str(), &st) == 0) s->inode_ = st.st_ino;
  s->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->wake_.valid()) return make_error(ErrorCode::io, "eventfd", errno_text(errno));
  s->handler_ = std::move(handler);
  s->limits_ = limits;
  s->thread_ = std::thread([raw = s.get()] { raw->run(); });
  return s;
}

ControlServer::~ControlServer() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
  struct stat st {};
  if (!path_.empty() && ::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) ::unlink(path_.c_str());
}

void ControlServer::abandon_after_fork() noexcept {
  listener_.reset();
  wake_.reset();
}

void ControlServer::run() {
  std::vector<Connection> conns;
  const uid_t self = ::geteuid();
  auto respond = [&](Connection& c, const Response& r) {
    c.out = format_response(r) + "\n";
    c.sent = 0;
    c.writing = true;
    c.passed.reset();
    c.deadline = Clock::now() + limits_.request_timeout;
    ::shutdown(c.fd.get(), SHUT_RD);
  };
  auto dispatch = [&](Connection& c, std::string_view line) {
    auto req = parse_request(line);
    if (!req) {
      log::warning("control: bad request from " + who(c.peer) + ": " + req.error().what());
      respond(c, error_response(req.error()));
      return;
    }
    Response r;
    try {
      r = handler_(*req, std::move(c.passed), c.peer);
    } catch (const std::exception& e) {
      r = error_response(make_error(ErrorCode::internal, op_name(req->op), e.what()));
    }
    respond(c, r);
  };

  for (;;) {
    std::vector<pollfd> pfds;
    pfds.push_back({wake_.get(), POLLIN, 0});
    const bool listening = conns.size() < limits_.max_connections;
    if (listening) pfds.push_back({listener_.get(), POLLIN, 0});
    const std::size_t first_conn = pfds.size();
    auto now = Clock::now();
    int timeout = conns.empty() ? -1 : 1000;
    for (auto& c : conns) {
      pfds.push_back({c.fd.get(), static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
      timeout = std::clamp<int>(static_cast<int>(std::min<long long>(left, timeout)), 0, 1000);
    }
    int r = ::poll(pfds.data(), pfds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      log::warning("control: poll failed (" + errno_text(errno) + "); the endpoint stops");
      return;
    }
    if (r > 0 && (pfds[0].revents & POLLIN) != 0) return;
    now = Clock::now();

    for (std::size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      short ev = r > 0 ? pfds[first_conn + i].revents : 0;
      if (c.writing) {
        if ((ev & (POLLOUT | POLLERR | POLLHUP)) != 0) {
          ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && errno != EAGAIN && errno != EINTR) c.done = true;
          if (n > 0) c.sent += static_cast<std::size_t>(n);
          if (c.sent == c.out.size()) c.done = true;
        }
        if (!c.done && now >= c.deadline) {
          log::warning("control: " + who(c.peer) + " did not read its response in time; connection dropped");
          c.done = true;
        }
        continue;
      }
      if ((ev & (POLLIN | POLLERR | POLLHUP)) != 0) read_some(c);
      if (auto nl = c.in.find('\n'); nl != std::string::npos) {
        c.done = false;
        dispatch(c, std::string_view(c.in).substr(0, nl));
      } else if (c.in.size() > max_request_bytes) {
        log::warning("control: oversized request from " + who(c.peer) + " refused");
        c.done = false;
        respond(c, error_response(make_error(ErrorCode::too_large, "request",
                                             "is larger than " + std::to_string(max_request_bytes) + " bytes")));
      } else if (c.done && !c.in.empty()) {
        c.done = false;
        respond(c, error_response(make_error(ErrorCode::protocol, "request", "ended without a newline")));
      } else if (!c.done && now >= c.deadline) {
        log::warning("control: " + who(c.peer) + " sent no complete request in time; connection dropped");
        respond(c, error_response(make_error(ErrorCode::protocol, "request",
                                             "incomplete after " + std::to_string(limits_.request_timeout.count()) +
                                                 " ms")));
      }
    }
    std::erase_if(conns, [](const Connection& c) { return c.done; });

    if (listening && r > 0 && (pfds[1].revents & POLLIN) != 0) {
      while (conns.size() < limits_.max_connections) {
        Fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) break;
        auto peer = peer_credentials(fd.get());
        if (!peer) continue;
        // Only this user and root get an answer; anyone else learns nothing, not even an error text.
        if (peer->uid != self && peer->uid != 0) {
          log::warning("control: refused " + who(*peer) + ": only uid " + std::to_string(self) +
                       " or root may control this process");
          continue;
        }
        Connection c;
        c.fd = std::move(fd);
        c.peer = *peer;
        c.deadline = now + limits_.request_timeout;
        conns.push_back(std::move(c));
      }
    }
  }
}

}  // namespace hotpatch::control
