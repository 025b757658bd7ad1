/* noinline only: a normal build would inline these into the benchmark loop, which measures nothing. */
#include "work.h"

__attribute__((noinline)) int hp_bench_work_plain(int x) { HP_WORK(x, HP_WORK_SALT_OLD) }
__attribute__((noinline)) int hp_bench_trivial_plain(int x) { HP_TRIVIAL(x, HP_WORK_SALT_OLD) }
__attribute__((noinline)) int hp_bench_work_direct(int x) { HP_WORK(x, HP_WORK_SALT_NEW) }
__attribute__((noinline)) int hp_bench_trivial_direct(int x) { HP_TRIVIAL(x, HP_WORK_SALT_NEW) }
