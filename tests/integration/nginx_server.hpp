// A real nginx serving a directory on a loopback port, started and stopped by a test.
#pragma once

#include <string>
#include <sys/types.h>

namespace hptest {

class NginxServer {
 public:
  /// Starts nginx (from Debian's nginx-light) serving `root`; check ok() and error().
  explicit NginxServer(const std::string& root);
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string prefix_;
  std::string error_;
};

}  // namespace hptest
