#include "control/protocol.hpp"

#include <array>
#include <utility>

namespace hotpatch::control {
namespace {

using json = nlohmann::ordered_json;

constexpr std::array<std::pair<Op, const char*>, 5> op_names{{
    {Op::hello, "hello"}, {Op::status, "status"}, {Op::apply, "apply"}, {Op::revert, "revert"}, {Op::update, "update"}}};

Error protocol_error(std::string message) { return make_error(ErrorCode::protocol, "request", std::move(message)); }

// Parses without exceptions; nlohmann reports a syntax error as a discarded value.
Result<json> parse_object(std::string_view line, const char* what) {
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::parse, what, "is not valid JSON");
  if (!j.is_object()) return make_error(ErrorCode::parse, what, "is not a JSON object");
  return j;
}

Status check_version(const json& j, const char* what) {
  auto v = j.find("hotpatch");
  if (v == j.end() || !v->is_number_integer()) {
    return make_error(ErrorCode::protocol, what, "has no integer \"hotpatch\" protocol version");
  }
  if (v->get<long long>() != protocol_version) {
    return make_error(ErrorCode::protocol, what,
                      "uses protocol version " + std::to_string(v->get<long long>()) + "; this side speaks version " +
                          std::to_string(protocol_version));
  }
  return {};
}

Result<std::string> string_field(const json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) return protocol_error(std::string("\"") + key + "\" is missing");
    return std::string();
  }
  if (!it->is_string()) return protocol_error(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

}  // namespace

const char* op_name(Op op) {
  for (const auto& [o, name] : op_names)
    if (o == op) return name;
  return "?";
}

ErrorCode error_code_from_name(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(kLastErrorCode); ++c) {
    if (name == error_code_name(static_cast<ErrorCode>(c))) return static_cast<ErrorCode>(c);
  }
  return ErrorCode::internal;
}

Result<Request> parse_request(std::string_view line) {
  if (line.size() > max_request_bytes) {
    return make_error(ErrorCode::too_large, "request",
                      "is larger than " + std::to_string(max_request_bytes) + " bytes");
  }
  HOTPATCH_LET(j, parse_object(line, "request"));
  HOTPATCH_TRY(check_version(j, "request"));
  HOTPATCH_LET(op_text, string_field(j, "op", true));
  Request r;
  bool known = false;
  for (const auto& [o, name] : op_names) {
    if (op_text == name) {
      r.op = o;
      known = true;
    }
  }
  if (!known) return protocol_error("unknown op \"" + op_text + "\"");
  if (r.op == Op::apply) {
    HOTPATCH_LET(source, string_field(j, "source", false));
    r.source = std::move(source);
    HOTPATCH_LET(signature, string_field(j, "signature", false));
    if (signature.size() > max_signature_bytes) {
      return protocol_error("\"signature\" is longer than " + std::to_string(max_signature_bytes) + " bytes");
    }
    r.signature = std::move(signature);
    if (auto u = j.find("allow_unsigned"); u != j.end()) {
      if (!u->is_boolean()) return protocol_error("\"allow_unsigned\" must be true or false");
      r.allow_unsigned = u->get<bool>();
    }
    if (r.allow_unsigned && !r.signature.empty()) {
      return protocol_error("\"signature\" and \"allow_unsigned\" exclude each other");
    }
  }
  if (r.op == Op::revert) {
    if (auto all = j.find("all"); all != j.end()) {
      if (!all->is_boolean()) return protocol_error("\"all\" must be true or false");
      r.all = all->get<bool>();
    }
    HOTPATCH_LET(id, string_field(j, "patch_id", !r.all));
    if (!r.all && id.empty()) return protocol_error("\"patch_id\" is empty");
    r.patch_id = std::move(id);
  }
  return r;
}

std::string format_request(const Request& request) {
  json j{{"hotpatch", protocol_version}, {"op", op_name(request.op)}};
  if (request.op == Op::apply) {
    j["source"] = request.source;
    if (request.allow_unsigned) j["allow_unsigned"] = true;
    else j["signature"] = request.signature;
  }
  if (request.op == Op::revert) {
    if (request.all) j["all"] = true;
    else j["patch_id"] = request.patch_id;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Response> parse_response(std::string_view line) {
  if (line.size() > max_response_bytes) {
    return make_error(ErrorCode::too_large, "response", "is larger than " + std::to_string(max_response_bytes) + " bytes");
  }
  HOTPATCH_LET(j, parse_object(line, "response"));
  HOTPATCH_TRY(check_version(j, "response"));
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return make_error(ErrorCode::protocol, "response", "has no boolean \"ok\"");
  Response r;
  r.ok = ok->get<bool>();
  if (r.ok) {
    auto result = j.find("result");
    if (result == j.end() || !result->is_object()) {
      return make_error(ErrorCode::protocol, "response", "has no \"result\" object");
    }
    r.result = std::move(*result);
    return r;
  }
  auto e = j.find("error");
  if (e == j.end() || !e->is_object()) return make_error(ErrorCode::protocol, "response", "has no \"error\" object");
  auto text = [&](const char* key) {
    auto it = e->find(key);
    return it != e->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  r.error = make_error(error_code_from_name(text("code")), text("subject"), text("message"));
  if (r.error.message.empty()) r.error.message = "the process refused the request without a reason";
  return r;
}

std::string format_response(const Response& response) {
  json j{{"hotpatch", protocol_version}, {"ok", response.ok}};
  if (response.ok) {
    j["result"] = response.result;
  } else {
    j["error"] = {{"code", error_code_name(response.error.code)},
                  {"subject", response.error.subject},
                  {"message", response.error.message}};
  }
  // Invalid UTF-8 (a symbol or path from the process) is replaced instead of throwing.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response error_response(Error error) {
  Response r;
  r.ok = false;
  r.error = std::move(error);
  return r;
}

Response ok_response(nlohmann::ordered_json result) {
  Response r;
  r.result = std::move(result);
  return r;
}

}  // namespace hotpatch::control
