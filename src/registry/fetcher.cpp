#include "registry/fetcher.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <strings.h>

namespace hotpatch::registry {
namespace {

struct Transfer {
  std::string body;
  std::string etag;
  std::size_t cap = 0;
  bool over_cap = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  // CURLOPT_MAXFILESIZE only trusts Content-Length; a chunked or lying server is stopped here.
  if (t->body.size() + n > t->cap) {
    t->over_cap = true;
    return 0;
  }
  t->body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  std::string_view line(data, n);
  // Redirects deliver several header blocks; only the final response's ETag names this body.
  if (line.starts_with("HTTP/")) t->etag.clear();
  if (line.size() > 5 && strncasecmp(line.data(), "etag:", 5) == 0) {
    line.remove_prefix(5);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' '))
      line.remove_suffix(1);
    t->etag = std::string(line);
  }
  return n;
}

void ensure_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string join_url(std::string_view base, std::string_view path) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return out + "/" + std::string(path);
}

std::string url_from_location(std::string_view location) {
  if (location.find("://") != std::string_view::npos) return std::string(location);
  std::error_code ec;
  auto abs = std::filesystem::absolute(std::filesystem::path(location), ec);
  return "file://" + (ec ? std::string(location) : abs.lexically_normal().string());
}

Result<FetchResult> fetch(const std::string& url, const FetchLimits& limits, std::string_view if_none_match) {
  if (!(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://"))) {
    return make_error(ErrorCode::invalid_argument, url, "only http://, https:// and file:// URLs are allowed");
  }
  ensure_curl();
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return make_error(ErrorCode::internal, url, "libcurl could not start a transfer");
  CURL* c = curl.get();
  Transfer t;
  t.cap = limits.max_bytes;
  char errbuf[CURL_ERROR_SIZE] = {};
  std::unique_ptr<curl_slist, CurlFree> headers;
  if (!if_none_match.empty()) {
    std::string h = "If-None-Match: " + std::string(if_none_match);
    headers.reset(curl_slist_append(nullptr, h.c_str()));
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // the host program owns its signals
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits.max_bytes));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(limits.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(limits.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, limits.low_speed_bytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(limits.low_speed_time.count()));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "hotpatch-registry/1");
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  if (t.over_cap || rc == CURLE_FILESIZE_EXCEEDED) {
    return make_error(ErrorCode::too_large, url,
                      "response exceeds the cap of " + std::to_string(limits.max_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) why = "timed out: " + why;
    return make_error(ErrorCode::network, url, "fetch failed: " + why);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  FetchResult out;
  if (status == 304) {
    out.not_modified = true;
    out.etag = std::string(if_none_match);
    return out;
  }
  if (status >= 400 || (url.starts_with("http") && status != 200)) {
    return make_error(ErrorCode::network, url, "server answered HTTP " + std::to_string(status));
  }
  out.body = std::move(t.body);
  out.etag = std::move(t.etag);
  return out;
}

}  // namespace hotpatch::registry
