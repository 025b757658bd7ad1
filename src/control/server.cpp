#include "control/server.hpp"

#include "control/peer_rule.hpp"
#include "control/socket_dir.hpp"
#include "support/log.hpp"

#include <algorithm>
#include <optional>
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
  // Set at accept for a peer the ptrace rule refuses: its request gets this answer, unread.
  std::optional<Error> refusal;
  // A deferred answer is being worked on; it comes back from the worker under this ticket.
  bool waiting = false;
  std::uint64_t ticket = 0;
  std::string pending_op;
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
                                                            ServerLimits limits, std::function<void()> on_thread_start) {
  HOTPATCH_TRY(prepare_socket_dir(dir));
  for (pid_t dead : remove_stale_sockets(dir)) {
    log::info("control: removed the stale socket of dead process " + std::to_string(dead) + " in " + dir);
  }
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->path_ = socket_path(dir, ::getpid());
  // A socket under our own pid can only be left by an earlier process that had this pid.
  ::unlink(s->path_.c_str());
  // Bound before start() returns: in a fork child (enable.cpp) that is still with the parent's
  // credentials, so a worker that drops privileges later keeps a socket only root can reach.
  HOTPATCH_LET(listener, listen_unix(s->path_, 0600));
  s->listener_ = std::move(listener);
  struct stat st {};
  if (::stat(s->path_.c_str(), &st) == 0) s->inode_ = st.st_ino;
  s->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->wake_.valid()) return make_error(ErrorCode::io, "eventfd", errno_text(errno));
  HOTPATCH_LET(worker, DeferredWorker::create());
  s->worker_ = std::move(worker);
  s->handler_ = std::move(handler);
  s->limits_ = limits;
  s->on_thread_start_ = std::move(on_thread_start);
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
  if (worker_) worker_->abandon_after_fork();
}

void ControlServer::run() {
  if (on_thread_start_) on_thread_start_();
  std::vector<Connection> conns;
  std::uint64_t next_ticket = 0;
  auto respond = [&](Connection& c, const Response& r) {
    c.out = format_response(r) + "\n";
    c.sent = 0;
    c.writing = true;
    c.waiting = false;
    c.passed.reset();
    c.deadline = Clock::now() + limits_.request_timeout;
    ::shutdown(c.fd.get(), SHUT_RD);
  };
  // Whatever went wrong with the request, a refused peer hears only why it is refused.
  auto fail = [&](Connection& c, Error e) { respond(c, error_response(c.refusal ? *c.refusal : std::move(e))); };
  auto dispatch = [&](Connection& c, std::string_view line) {
    if (c.refusal) {
      fail(c, *c.refusal);
      return;
    }
    auto req = parse_request(line);
    if (!req) {
      log::warning("control: bad request from " + who(c.peer) + ": " + req.error().what());
      respond(c, error_response(req.error()));
      return;
    }
    Reply reply{Response{}};
    try {
      reply = handler_(*req, std::move(c.passed), c.peer);
    } catch (const std::exception& e) {
      reply = Reply{error_response(make_error(ErrorCode::internal, op_name(req->op), e.what()))};
    }
    if (!reply.later) {
      respond(c, reply.now);
      return;
    }
    c.waiting = true;
    c.ticket = ++next_ticket;
    c.pending_op = op_name(req->op);
    c.passed.reset();
    c.deadline = Clock::now() + limits_.deferred_timeout;
    worker_->submit(c.ticket, std::move(reply.later));
  };

  for (;;) {
    std::vector<pollfd> pfds;
    pfds.push_back({wake_.get(), POLLIN, 0});
    pfds.push_back({worker_->ready_fd(), POLLIN, 0});
    const bool listening = conns.size() < limits_.max_connections;
    if (listening) pfds.push_back({listener_.get(), POLLIN, 0});
    const std::size_t first_conn = pfds.size();
    auto now = Clock::now();
    int timeout = conns.empty() ? -1 : 1000;
    for (auto& c : conns) {
      // A waiting connection is watched for its client going away (POLLHUP comes unasked).
      const short events = c.waiting ? 0 : c.writing ? POLLOUT : POLLIN;
      pfds.push_back({c.fd.get(), events, 0});
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

    if (r > 0 && (pfds[1].revents & POLLIN) != 0) {
      for (auto& [ticket, answer] : worker_->take_finished()) {
        auto it = std::find_if(conns.begin(), conns.end(),
                               [t = ticket](const Connection& c) { return c.waiting && c.ticket == t; });
        if (it != conns.end()) respond(*it, answer);
      }
    }

    for (std::size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      short ev = r > 0 ? pfds[first_conn + i].revents : 0;
      if (c.waiting) {
        if ((ev & (POLLHUP | POLLERR)) != 0) {
          log::debug("control: " + who(c.peer) + " went away before its " + c.pending_op + " answer");
          c.done = true;
        } else if (now >= c.deadline) {
          log::warning("control: " + c.pending_op + " for " + who(c.peer) + " took longer than " +
                       std::to_string(limits_.deferred_timeout.count() / 1000) + " s; answered with a timeout");
          respond(c, error_response(make_error(ErrorCode::network, c.pending_op,
                                               "no answer within " +
                                                   std::to_string(limits_.deferred_timeout.count() / 1000) +
                                                   " s; the work goes on in the background")));
        }
        continue;
      }
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
        if (!c.refusal) log::warning("control: oversized request from " + who(c.peer) + " refused");
        c.done = false;
        fail(c, make_error(ErrorCode::too_large, "request",
                           "is larger than " + std::to_string(max_request_bytes) + " bytes"));
      } else if (c.done && !c.in.empty()) {
        c.done = false;
        fail(c, make_error(ErrorCode::protocol, "request", "ended without a newline"));
      } else if (!c.done && now >= c.deadline) {
        if (!c.refusal) log::warning("control: " + who(c.peer) + " sent no complete request in time; connection dropped");
        fail(c, make_error(ErrorCode::protocol, "request",
                           "incomplete after " + std::to_string(limits_.request_timeout.count()) + " ms"));
      }
    }
    std::erase_if(conns, [](const Connection& c) { return c.done; });

    if (listening && r > 0 && (pfds[2].revents & POLLIN) != 0) {
      while (conns.size() < limits_.max_connections) {
        Fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) break;
        auto peer = peer_credentials(fd.get());
        if (!peer) continue;
        Connection c;
        c.fd = std::move(fd);
        c.peer = *peer;
        c.deadline = now + limits_.request_timeout;
        // Judged per connection: the process may have dropped privileges since the last one.
        // Root needs no look at every thread's credentials (a file read per thread).
        if (auto allowed = peer->uid == 0 ? Status{} : may_control(*peer, current_process_credentials()); !allowed) {
          log::warning("control: refused " + who(*peer) + ": " + allowed.error().message);
          c.refusal = allowed.error();
        }
        conns.push_back(std::move(c));
      }
    }
  }
}

}  // namespace hotpatch::control
