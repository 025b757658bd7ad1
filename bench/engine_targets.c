/* Without entry pads: these are patched with the int3 protocol. */
#define HOTPATCH_NO_ENTRY_PAD
#include "work.h"

#include <hotpatch/patch.h>

HOTPATCH_PATCHABLE int hp_bench_work(int x) { HP_WORK(x, HP_WORK_SALT_OLD) }
HOTPATCH_PATCHABLE int hp_bench_trivial(int x) { HP_TRIVIAL(x, HP_WORK_SALT_OLD) }
HOTPATCH_PATCHABLE int hp_bench_victim(int x) { HP_TRIVIAL(x, 7) }
