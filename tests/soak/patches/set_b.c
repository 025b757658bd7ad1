#include "soak_targets.h"

#include <hotpatch/patch.h>

#define HP_SOAK_B(k)                                              \
  static int fixed_b##k(int x) { return 2000 + HP_SOAK_VALUE(x, k); } \
  HOTPATCH_REPLACE_C(hp_soak_f##k, fixed_b##k);
HP_SOAK_B(4) HP_SOAK_B(5) HP_SOAK_B(6) HP_SOAK_B(7) HP_SOAK_B(8) HP_SOAK_B(9)
HP_SOAK_B(10) HP_SOAK_B(11) HP_SOAK_B(12) HP_SOAK_B(13) HP_SOAK_B(14) HP_SOAK_B(15)
