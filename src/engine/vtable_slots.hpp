// Vtable slots that hold a function: the redirect for virtual functions too short for a jump.
#pragma once

#include <cstdint>
#include <vector>

namespace hotpatch::engine {

/// Addresses of every vtable slot (in any loaded module's _ZTV* objects) that holds `function`.
std::vector<std::uintptr_t> find_vtable_slots(std::uintptr_t function);

}  // namespace hotpatch::engine
