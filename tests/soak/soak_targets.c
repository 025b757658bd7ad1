#include "soak_targets.h"

#include <hotpatch/patch.h>

#define HP_SOAK_DEFINE(k) \
  HOTPATCH_PATCHABLE int hp_soak_f##k(int x) { return HP_SOAK_VALUE(x, k); }
HP_SOAK_FOR_EACH(HP_SOAK_DEFINE)
