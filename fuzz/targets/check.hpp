// Invariants the fuzz targets assert: a failed check is a finding, reported as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

#define HP_FUZZ_CHECK(cond)                                                          \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
