#include <hotpatch/patch.h>
extern "C" int other_fixed(void) { return 1; }
HOTPATCH_REPLACE_C(other_answer, other_fixed);
