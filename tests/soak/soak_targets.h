/* Sixteen patchable functions for the soak test. hp_soak_f<k>(x) = (x ^ (0x5a5a + k * 0x111)) * 3 + k; patch
 * set A adds 1000 to f0..f11, patch set B adds 2000 to f4..f15, so every result says which version
 * computed it. */
#ifndef HOTPATCH_SOAK_TARGETS_H
#define HOTPATCH_SOAK_TARGETS_H

/* The xor with a 32-bit constant keeps every body (even f0) longer than the 5-byte entry jump. */
#define HP_SOAK_VALUE(x, k) (((x) ^ (0x5a5a + (k) * 0x111)) * 3 + (k))

#define HP_SOAK_FOR_EACH(M) \
  M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

#ifdef __cplusplus
extern "C" {
#endif
#define HP_SOAK_DECLARE(k) int hp_soak_f##k(int x);
HP_SOAK_FOR_EACH(HP_SOAK_DECLARE)
#undef HP_SOAK_DECLARE
#ifdef __cplusplus
}
#endif

#endif
