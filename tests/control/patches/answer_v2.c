#include <hotpatch/patch.h>
static int fixed_answer(void) { return 44; }
HOTPATCH_REPLACE_C(answer, fixed_answer);
