/* The function the engine applier tests patch. The counter keeps it long enough for a jump. */
#include <hotpatch/patch.h>

int hp_registry_calls = 0;

HOTPATCH_PATCHABLE int hp_registry_answer(int x) {
  ++hp_registry_calls;
  return x + 1;
}
