// LD_PRELOAD=libhotpatch.so: start the endpoint and poller when the environment asks for them.
// The constructor runs in every process that loads the library, so it only reads two variables
// unless asked; it never starts a thread otherwise and never stops the program on a bad setting.
#include <hotpatch/control.hpp>

#include "support/log.hpp"

#include <cstdlib>
#include <cstring>

namespace {

bool asked_for() {
  const char* control = std::getenv("HOTPATCH_CONTROL");
  const char* registry = std::getenv("HOTPATCH_REGISTRY_URL");
  bool control_on = control != nullptr && *control != '\0' && std::strcmp(control, "0") != 0 &&
                    std::strcmp(control, "off") != 0 && std::strcmp(control, "no") != 0 &&
                    std::strcmp(control, "false") != 0;
  return control_on || (registry != nullptr && *registry != '\0');
}

__attribute__((constructor)) void hotpatch_start_from_environment() {
  if (!asked_for()) return;
  try {
    auto options = hotpatch::control_options_from_environment();
    if (!options) {
      hotpatch::log::warning("control not started: " + options.error().what());
      return;
    }
    if (auto s = hotpatch::enable_control(*options); !s) {
      hotpatch::log::warning("control not started: " + s.error().what());
    }
  } catch (const std::exception& e) {
    hotpatch::log::warning(std::string("control not started: ") + e.what());
  }
}

}  // namespace
