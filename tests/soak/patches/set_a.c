#include "soak_targets.h"

#include <hotpatch/patch.h>

#define HP_SOAK_A(k)                                              \
  static int fixed_a##k(int x) { return 1000 + HP_SOAK_VALUE(x, k); } \
  HOTPATCH_REPLACE_C(hp_soak_f##k, fixed_a##k);
HP_SOAK_A(0) HP_SOAK_A(1) HP_SOAK_A(2) HP_SOAK_A(3) HP_SOAK_A(4) HP_SOAK_A(5)
HP_SOAK_A(6) HP_SOAK_A(7) HP_SOAK_A(8) HP_SOAK_A(9) HP_SOAK_A(10) HP_SOAK_A(11)
