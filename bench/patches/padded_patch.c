#include "work.h"

#include <hotpatch/patch.h>

static int work_fixed(int x) { HP_WORK(x, HP_WORK_SALT_NEW) }
static int trivial_fixed(int x) { HP_TRIVIAL(x, HP_WORK_SALT_NEW) }
HOTPATCH_REPLACE_C(hp_bench_work_padded, work_fixed);
HOTPATCH_REPLACE_C(hp_bench_trivial_padded, trivial_fixed);
