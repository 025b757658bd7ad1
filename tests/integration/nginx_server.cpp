#include "nginx_server.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace hptest {
namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

NginxServer::NginxServer(const std::string& root) {
  const char* binary = "/usr/sbin/nginx";
  if (access(binary, X_OK) != 0) {
    error_ = "nginx is not installed (scripts/install-deps.sh installs nginx-light)";
    return;
  }
  char tmpl[] = "/tmp/hotpatch-nginx-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  prefix_ = tmpl;
  port_ = free_port();
  std::ofstream conf(prefix_ + "/nginx.conf");
  conf << (geteuid() == 0 ? "user root;\n" : "") << "worker_processes 1;\n"
       << "daemon off;\nerror_log " << prefix_ << "/error.log warn;\npid " << prefix_ << "/nginx.pid;\n"
       << "events { worker_connections 64; }\n"
       << "http {\n  access_log " << prefix_ << "/access.log;\n"
       << "  client_body_temp_path " << prefix_ << "/body;\n  proxy_temp_path " << prefix_ << "/proxy;\n"
       << "  fastcgi_temp_path " << prefix_ << "/fcgi;\n  uwsgi_temp_path " << prefix_ << "/uwsgi;\n"
       << "  scgi_temp_path " << prefix_ << "/scgi;\n"
       << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    root " << root << ";\n"
       << "    location = /index.minisig { add_header Cache-Control no-cache; }\n  }\n}\n";
  conf.close();
  pid_ = fork();
  if (pid_ == 0) {
    execl(binary, binary, "-p", prefix_.c_str(), "-c", (prefix_ + "/nginx.conf").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (accepts(port_)) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::ifstream log(prefix_ + "/error.log");
  error_ = "nginx did not start: " + std::string(std::istreambuf_iterator<char>(log), {});
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

NginxServer::~NginxServer() {
  if (pid_ > 0) {
    kill(pid_, SIGQUIT);
    waitpid(pid_, nullptr, 0);
  }
  if (!prefix_.empty()) std::filesystem::remove_all(prefix_);
}

}  // namespace hptest
