#include <hotpatch/error.hpp>

namespace hotpatch {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::io: return "io";
    case ErrorCode::malformed_patch: return "malformed_patch";
    case ErrorCode::wrong_build: return "wrong_build";
    case ErrorCode::symbol_not_found: return "symbol_not_found";
    case ErrorCode::ambiguous_symbol: return "ambiguous_symbol";
    case ErrorCode::not_patchable: return "not_patchable";
    case ErrorCode::version_not_newer: return "version_not_newer";
    case ErrorCode::write_denied: return "write_denied";
    case ErrorCode::threads_unresponsive: return "threads_unresponsive";
    case ErrorCode::load_failed: return "load_failed";
    case ErrorCode::not_applied: return "not_applied";
    case ErrorCode::already_applied: return "already_applied";
    case ErrorCode::internal: return "internal";
    case ErrorCode::signature: return "signature";
    case ErrorCode::untrusted_key: return "untrusted_key";
    case ErrorCode::rollback: return "rollback";
    case ErrorCode::expired: return "expired";
    case ErrorCode::integrity: return "integrity";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::network: return "network";
    case ErrorCode::parse: return "parse";
    case ErrorCode::protocol: return "protocol";
    case ErrorCode::permission: return "permission";
    case ErrorCode::unsafe_threads: return "unsafe_threads";
    case ErrorCode::function_in_use: return "function_in_use";
  }
  return "unknown";
}

}  // namespace hotpatch
