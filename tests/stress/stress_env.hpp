// Settings the stress programs read from the environment (CTest sets them per run).
#pragma once

#include <cstdlib>

namespace hptest {

inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

}  // namespace hptest
