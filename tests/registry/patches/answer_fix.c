#include <hotpatch/patch.h>
static int answer_fixed(int x) { return x + 100; }
HOTPATCH_REPLACE_C(hp_registry_answer, answer_fixed);
