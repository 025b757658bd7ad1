// A minimal HTTP/1.1 server on 127.0.0.1 for fetcher tests: each connection gets one scripted
// response, which may lie about its length, omit it, or trickle bytes slowly.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace hotpatch::registry::test {

struct HttpResponse {
  int status = 200;
  std::vector<std::string> headers;  ///< "Name: value"
  std::string body;
  bool send_content_length = true;
  /// When set, the body goes out one byte per interval (a slow peer).
  std::chrono::milliseconds trickle{0};
};

struct HttpRequest {
  std::string path;
  std::vector<std::string> headers;
  std::string header(const std::string& name) const;  ///< value of the first match, "" when absent
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  explicit HttpServer(Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void serve();
  void answer(int fd);
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hotpatch::registry::test
