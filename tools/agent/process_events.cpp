#include "agent/process_events.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hotpatch::agent {
Result<ProcessEvents> ProcessEvents::open() {
  const int fd = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
  if (fd < 0) return make_error(ErrorCode::io, "proc connector", std::string("no netlink socket: ") + std::strerror(errno));
  ProcessEvents events(fd);
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = CN_IDX_PROC;
  address.nl_pid = 0;  // the kernel assigns one
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return make_error(ErrorCode::permission, "proc connector", std::string("cannot subscribe: ") + std::strerror(errno));
  }
  // A netlink header, a connector header, then the operation.
  const proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  alignas(nlmsghdr) char listen[NLMSG_SPACE(sizeof(cn_msg) + sizeof op)] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(listen);
  header->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof op);
  header->nlmsg_type = NLMSG_DONE;
  auto* connector = static_cast<cn_msg*>(NLMSG_DATA(header));
  connector->id.idx = CN_IDX_PROC;
  connector->id.val = CN_VAL_PROC;
  connector->len = sizeof op;
  std::memcpy(connector->data, &op, sizeof op);
  if (::send(fd, listen, header->nlmsg_len, 0) != static_cast<ssize_t>(header->nlmsg_len)) {
    return make_error(ErrorCode::permission, "proc connector",
                      std::string("cannot listen: ") + std::strerror(errno) + " (it needs CAP_NET_ADMIN)");
  }
  return events;
}

ProcessEvents::~ProcessEvents() {
  if (fd_ >= 0) ::close(fd_);
}

bool ProcessEvents::drain_execs() {
  bool exec = false;
  alignas(nlmsghdr) char buffer[8192];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ENOBUFS: the kernel dropped events; a scan finds whatever they were.
      return exec || errno == ENOBUFS;
    }
    if (n == 0) return exec;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_NOOP) continue;
      const auto* cn = static_cast<const cn_msg*>(NLMSG_DATA(h));
      if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC || cn->len < sizeof(proc_event)) continue;
      const auto* event = reinterpret_cast<const proc_event*>(cn->data);
      if (event->what == proc_event::PROC_EVENT_EXEC) exec = true;
    }
  }
}

}  // namespace hotpatch::agent
