#include <hotpatch/patch.h>
static int fixed_answer(void) { return 43; }
HOTPATCH_REPLACE_C(answer, fixed_answer);
