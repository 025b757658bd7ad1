/* With entry pads (HOTPATCH_PATCHABLE's default): these are patched through the pad, no trap. */
#include "work.h"

#include <hotpatch/patch.h>

HOTPATCH_PATCHABLE int hp_bench_work_padded(int x) { HP_WORK(x, HP_WORK_SALT_OLD) }
HOTPATCH_PATCHABLE int hp_bench_trivial_padded(int x) { HP_TRIVIAL(x, HP_WORK_SALT_OLD) }
