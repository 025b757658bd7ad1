// The control protocol, version 1: one JSON object per line each way, one request per connection.
//
//   request:  {"hotpatch":1,"op":"hello"|"status"|"apply"|"revert"|"update", ...}
//             apply:  {"source":"<path the operator named>","signature":"<minisig text>"} or
//                     {"source":...,"allow_unsigned":true}, with the patch as a sealed memfd attached
//             revert: {"patch_id":"<id>"} or {"all":true}
//   response: {"hotpatch":1,"ok":true,"result":{...}}
//             {"hotpatch":1,"ok":false,"error":{"code":"<error_code_name>","subject":"...","message":"..."}}
//
// Parsing never throws and accepts any bytes, so it can be fuzzed on its own.
#pragma once

#include <hotpatch/error.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace hotpatch::control {

inline constexpr int protocol_version = 1;
/// A request line longer than this is refused before it is parsed.
inline constexpr std::size_t max_request_bytes = 64 * 1024;
/// A signature longer than this is not a minisign signature.
inline constexpr std::size_t max_signature_bytes = 8 * 1024;
/// A response longer than this is refused by the client.
inline constexpr std::size_t max_response_bytes = 16 * 1024 * 1024;

enum class Op { hello, status, apply, revert, update };

const char* op_name(Op op);

struct Request {
  Op op = Op::hello;
  std::string source;    ///< apply: where the operator's file came from (for status and logs)
  std::string signature; ///< apply: the detached minisign signature of the attached bytes
  bool allow_unsigned = false;  ///< apply: the operator asks to apply without a signature
  std::string patch_id;  ///< revert
  bool all = false;      ///< revert every applied patch
};

struct Response {
  bool ok = true;
  Error error;                  ///< when !ok
  nlohmann::ordered_json result = nlohmann::ordered_json::object();  ///< when ok
};

/// One request line (without its newline). Errors are protocol or parse errors with a sentence
/// that goes back to the client as is.
Result<Request> parse_request(std::string_view line);
std::string format_request(const Request& request);

Result<Response> parse_response(std::string_view line);
std::string format_response(const Response& response);

Response error_response(Error error);
Response ok_response(nlohmann::ordered_json result);

/// The ErrorCode spelled by error_code_name, or internal for an unknown name.
/// The highest error code: codes run from ok (0) to it without gaps. A new code must move it, or
/// it reaches the other end of the socket as "internal" (ControlProtocol.EveryErrorCodeRoundTripsByName).
inline constexpr ErrorCode kLastErrorCode = ErrorCode::function_in_use;

ErrorCode error_code_from_name(std::string_view name);

}  // namespace hotpatch::control
