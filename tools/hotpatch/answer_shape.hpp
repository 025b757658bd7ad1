// What a process's answer to each request must look like. A process may send anything: a field of
// the wrong type is an error for that one process, never an exception that stops the command.
#pragma once

#include "control/protocol.hpp"

#include <hotpatch/error.hpp>

namespace hotpatch::cli {

/// Checks every field the CLI reads from the `result` of an ok answer to `op` (others only pass
/// through to --json). Absent or null fields are allowed (shown as "-"); present ones must have
/// their type. Errors name the field.
Status check_answer(control::Op op, const nlohmann::ordered_json& result);

}  // namespace hotpatch::cli
