// The protocol parser on its own: every malformed request gets an error that names the problem.
#include "control/protocol.hpp"

#include <gtest/gtest.h>

namespace hotpatch::control {
namespace {

std::string refusal(std::string_view line) {
  auto r = parse_request(line);
  EXPECT_FALSE(r.has_value()) << line;
  return r ? std::string() : r.error().what();
}

TEST(ControlProtocol, RoundTripsEveryOp) {
  for (Op op : {Op::hello, Op::status, Op::apply, Op::revert, Op::update}) {
    Request req;
    req.op = op;
    req.source = "/srv/patches/fix.so";
    req.patch_id = "fix-1";
    auto back = parse_request(format_request(req));
    ASSERT_TRUE(back.has_value()) << op_name(op);
    EXPECT_EQ(back->op, op);
  }
  Request all;
  all.op = Op::revert;
  all.all = true;
  auto back = parse_request(format_request(all));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->all);
}

// An error crosses the socket by name; every code must come back as itself, not as "internal".
TEST(ControlProtocol, EveryErrorCodeRoundTripsByName) {
  for (int c = 0; c <= static_cast<int>(kLastErrorCode); ++c) {
    const auto code = static_cast<hotpatch::ErrorCode>(c);
    EXPECT_STRNE(hotpatch::error_code_name(code), "unknown") << c;
    EXPECT_EQ(error_code_from_name(hotpatch::error_code_name(code)), code) << c;
  }
}

TEST(ControlProtocol, RefusesMalformedRequestsWithAReason) {
  EXPECT_EQ(refusal("{\"hotpatch\":1,"), "request: is not valid JSON");
  EXPECT_EQ(refusal("[1,2]"), "request: is not a JSON object");
  EXPECT_EQ(refusal("{\"op\":\"hello\"}"), "request: has no integer \"hotpatch\" protocol version");
  EXPECT_EQ(refusal("{\"hotpatch\":2,\"op\":\"hello\"}"),
            "request: uses protocol version 2; this side speaks version 1");
  EXPECT_EQ(refusal("{\"hotpatch\":1}"), "request: \"op\" is missing");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":7}"), "request: \"op\" must be a string");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"format-disk\"}"), "request: unknown op \"format-disk\"");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"revert\"}"), "request: \"patch_id\" is missing");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"revert\",\"patch_id\":\"\"}"), "request: \"patch_id\" is empty");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"revert\",\"all\":\"yes\"}"), "request: \"all\" must be true or false");
  EXPECT_EQ(refusal(std::string(max_request_bytes + 1, ' ')), "request: is larger than 65536 bytes");
  EXPECT_EQ(refusal(std::string("\xff\xfe\x00", 3)), "request: is not valid JSON");
}

TEST(ControlProtocol, ApplyCarriesTheSignatureOrTheUnsignedRequest) {
  Request signed_;
  signed_.op = Op::apply;
  signed_.source = "/srv/fix.so";
  signed_.signature = "untrusted comment: x\nRWQ...\n";
  auto back = parse_request(format_request(signed_));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->signature, signed_.signature);
  EXPECT_FALSE(back->allow_unsigned);

  Request unsigned_ = signed_;
  unsigned_.signature.clear();
  unsigned_.allow_unsigned = true;
  back = parse_request(format_request(unsigned_));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->allow_unsigned);
  EXPECT_EQ(back->signature, "");

  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"apply\",\"signature\":\"s\",\"allow_unsigned\":true}"),
            "request: \"signature\" and \"allow_unsigned\" exclude each other");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"apply\",\"allow_unsigned\":1}"),
            "request: \"allow_unsigned\" must be true or false");
  EXPECT_EQ(refusal("{\"hotpatch\":1,\"op\":\"apply\",\"signature\":\"" + std::string(max_signature_bytes + 1, 'a') +
                    "\"}"),
            "request: \"signature\" is longer than 8192 bytes");
}

TEST(ControlProtocol, ResponsesCarryErrorsBack) {
  auto line = format_response(error_response(make_error(ErrorCode::wrong_build, "patch 'x'", "is for another build")));
  auto r = parse_response(line);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->error.code, ErrorCode::wrong_build);
  EXPECT_EQ(r->error.what(), "patch 'x': is for another build");

  auto ok = parse_response(format_response(ok_response({{"pid", 12}})));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->result["pid"], 12);

  EXPECT_EQ(parse_response("{\"hotpatch\":1}").error().what(), "response: has no boolean \"ok\"");
  EXPECT_EQ(parse_response("{\"hotpatch\":1,\"ok\":true}").error().what(), "response: has no \"result\" object");
  EXPECT_EQ(parse_response("nope").error().what(), "response: is not valid JSON");
}

TEST(ControlProtocol, InvalidUtf8InAResultIsReplacedNotThrown) {
  auto line = format_response(ok_response({{"symbol", std::string("bad\xff")}}));
  EXPECT_TRUE(parse_response(line).has_value());
}

}  // namespace
}  // namespace hotpatch::control
