/* The function bodies the call-overhead benchmarks compare. Every variant (patchable original,
 * plain build, replacement, direct copy of the replacement) expands the same macro, so they differ
 * only in how they are built and reached.
 *
 * HP_WORK: a dependent chain of xorshift-multiply steps (which the compiler cannot fold, unlike
 * plain multiply-adds), about 20 ns; straight-line, so nothing branches into its first bytes.
 * HP_TRIVIAL: three instructions. */
#ifndef HOTPATCH_BENCH_WORK_H
#define HOTPATCH_BENCH_WORK_H

#define HP_WORK_STEP(k) h ^= h >> 15; h *= 2654435761u + 2u * (k##u);
#define HP_WORK(x, salt)                                                                     \
  unsigned h = (unsigned)(x);                                                                \
  HP_WORK_STEP(1) HP_WORK_STEP(2) HP_WORK_STEP(3) HP_WORK_STEP(4) HP_WORK_STEP(5)            \
  HP_WORK_STEP(6) HP_WORK_STEP(7) HP_WORK_STEP(8) HP_WORK_STEP(9) HP_WORK_STEP(10)           \
  HP_WORK_STEP(11) HP_WORK_STEP(12) HP_WORK_STEP(13) HP_WORK_STEP(14) HP_WORK_STEP(15)       \
  HP_WORK_STEP(16) return (int)((h >> 1) + (salt));

#define HP_TRIVIAL(x, salt) return ((x) ^ 0x5a5a5a5a) + (salt);

#ifdef __cplusplus
extern "C" {
#endif
/* Patchable originals (engine_targets.c, built like an application using hotpatch). */
int hp_bench_work(int x);
int hp_bench_trivial(int x);
int hp_bench_victim(int x); /* only ever rewritten with its own bytes: the bare write primitive */
/* The same bodies with a compiler-placed entry pad (engine_padded_targets.c): the pad protocol. */
int hp_bench_work_padded(int x);
int hp_bench_trivial_padded(int x);
/* Built plain (plain_targets.c): no live-patching flags, only kept out of line. */
int hp_bench_work_plain(int x);
int hp_bench_trivial_plain(int x);
/* The replacements' bodies, compiled into the program: the "direct call" baseline. */
int hp_bench_work_direct(int x);
int hp_bench_trivial_direct(int x);
#ifdef __cplusplus
}
#endif

#define HP_WORK_SALT_OLD 1
#define HP_WORK_SALT_NEW 2

#endif
