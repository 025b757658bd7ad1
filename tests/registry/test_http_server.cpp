#include "test_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace hotpatch::registry::test {
namespace {

bool send_all(int fd, const std::string& data) {
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 302: return "Found";
    case 404: return "Not Found";
    default: return "Status";
  }
}

}  // namespace

std::string HttpRequest::header(const std::string& name) const {
  for (const auto& h : headers) {
    if (h.size() > name.size() && h[name.size()] == ':' && strncasecmp(h.data(), name.data(), name.size()) == 0) {
      std::string v = h.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
  }
  return {};
}

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    std::abort();
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

HttpServer::~HttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void HttpServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    answer(fd);
    ::close(fd);
  }
}

void HttpServer::answer(int fd) {
  std::string raw;
  char buf[4096];
  while (raw.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  HttpRequest req;
  std::size_t line_end = raw.find("\r\n");
  std::string first = raw.substr(0, line_end);
  auto sp1 = first.find(' ');
  auto sp2 = first.find(' ', sp1 + 1);
  req.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
  for (std::size_t pos = line_end + 2; pos < raw.size();) {
    auto end = raw.find("\r\n", pos);
    if (end == pos || end == std::string::npos) break;
    req.headers.push_back(raw.substr(pos, end - pos));
    pos = end + 2;
  }
  HttpResponse resp = handler_(req);
  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
  for (const auto& h : resp.headers) head += h + "\r\n";
  if (resp.send_content_length) head += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  if (!send_all(fd, head)) return;
  if (resp.trickle.count() == 0) {
    send_all(fd, resp.body);
    return;
  }
  for (char c : resp.body) {
    if (stop_ || !send_all(fd, std::string(1, c))) return;
    std::this_thread::sleep_for(resp.trickle);
  }
}

}  // namespace hotpatch::registry::test
