#include "registry/fetcher.hpp"
#include "test_http_server.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace hotpatch::registry::test {
namespace {

using namespace std::chrono_literals;

FetchLimits caps(std::size_t max_bytes) {
  FetchLimits l;
  l.max_bytes = max_bytes;
  l.connect_timeout = 2s;
  l.total_timeout = 10s;
  return l;
}

TEST(Fetcher, ReadsFileUrls) {
  TempDir dir;
  write_text(dir / "a.txt", "hello");
  auto r = fetch("file://" + (dir / "a.txt"), caps(100));
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->body, "hello");
  EXPECT_FALSE(r->not_modified);
}

TEST(Fetcher, MissingFileIsANetworkError) {
  TempDir dir;
  auto r = fetch("file://" + (dir / "absent"), caps(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
  EXPECT_TRUE(r.error().message.starts_with("fetch failed: ")) << r.error().message;
}

TEST(Fetcher, OversizeFileIsRefused) {
  TempDir dir;
  write_text(dir / "big", std::string(5000, 'x'));
  auto r = fetch("file://" + (dir / "big"), caps(4096));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "response exceeds the cap of 4096 bytes");
}

TEST(Fetcher, CapHoldsWithoutContentLength) {
  HttpServer server([](const HttpRequest&) {
    HttpResponse r;
    r.body = std::string(1 << 20, 'x');
    r.send_content_length = false;
    return r;
  });
  auto r = fetch(server.url() + "/index.minisig", caps(4096));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
  EXPECT_EQ(r.error().message, "response exceeds the cap of 4096 bytes");
}

TEST(Fetcher, CapHoldsWithContentLength) {
  HttpServer server([](const HttpRequest&) { return HttpResponse{200, {}, std::string(10000, 'x')}; });
  auto r = fetch(server.url() + "/x", caps(4096));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::too_large);
}

TEST(Fetcher, ConditionalGetUsesETag) {
  HttpServer server([](const HttpRequest& req) {
    if (req.header("If-None-Match") == "\"v1\"") return HttpResponse{304, {"ETag: \"v1\""}, ""};
    return HttpResponse{200, {"ETag: \"v1\""}, "pointer"};
  });
  auto first = fetch(server.url() + "/index.minisig", caps(100));
  ASSERT_TRUE(first) << first.error().what();
  EXPECT_EQ(first->body, "pointer");
  EXPECT_EQ(first->etag, "\"v1\"");
  auto second = fetch(server.url() + "/index.minisig", caps(100), first->etag);
  ASSERT_TRUE(second) << second.error().what();
  EXPECT_TRUE(second->not_modified);
  EXPECT_EQ(second->body, "");
}

TEST(Fetcher, SlowPeerIsAbandoned) {
  HttpServer server([](const HttpRequest&) {
    HttpResponse r{200, {}, std::string(200, 'x')};
    r.trickle = 200ms;
    return r;
  });
  FetchLimits l = caps(1000);
  l.low_speed_bytes = 100;
  l.low_speed_time = 1s;
  auto start = std::chrono::steady_clock::now();
  auto r = fetch(server.url() + "/x", l);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
  EXPECT_TRUE(r.error().message.starts_with("fetch failed: timed out: ")) << r.error().message;
  EXPECT_LT(took, 5s);
}

TEST(Fetcher, TotalTimeoutIsEnforced) {
  HttpServer server([](const HttpRequest&) {
    HttpResponse r{200, {}, std::string(200, 'x')};
    r.trickle = 20ms;  // fast enough for the low-speed rule, too slow for the total limit
    return r;
  });
  FetchLimits l = caps(1000);
  l.low_speed_bytes = 1;
  l.total_timeout = 500ms;
  auto r = fetch(server.url() + "/x", l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
  EXPECT_TRUE(r.error().message.starts_with("fetch failed: timed out: ")) << r.error().message;
}

TEST(Fetcher, OnlyHttpHttpsAndFileAreAllowed) {
  for (const char* url : {"ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "dict://127.0.0.1/x", "/plain/path"}) {
    auto r = fetch(url, caps(100));
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
    EXPECT_EQ(r.error().message, "only http://, https:// and file:// URLs are allowed");
  }
}

TEST(Fetcher, RedirectToFileIsRefused) {
  TempDir dir;
  write_text(dir / "secret", "local secret");
  std::string target = "file://" + (dir / "secret");
  HttpServer server([&](const HttpRequest&) { return HttpResponse{302, {"Location: " + target}, ""}; });
  auto r = fetch(server.url() + "/x", caps(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
}

TEST(Fetcher, HttpErrorStatusIsANetworkError) {
  HttpServer server([](const HttpRequest&) { return HttpResponse{404, {}, "no"}; });
  auto r = fetch(server.url() + "/x", caps(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::network);
  EXPECT_EQ(r.error().message, "server answered HTTP 404");
}

TEST(Fetcher, UrlHelpers) {
  EXPECT_EQ(join_url("http://h/base/", "/index.minisig"), "http://h/base/index.minisig");
  EXPECT_EQ(join_url("file:///r", "blobs/x"), "file:///r/blobs/x");
  EXPECT_EQ(url_from_location("/srv/reg/../reg"), "file:///srv/reg");
  EXPECT_EQ(url_from_location("https://h/x"), "https://h/x");
}

}  // namespace
}  // namespace hotpatch::registry::test
