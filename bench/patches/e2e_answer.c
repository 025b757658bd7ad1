#include <hotpatch/patch.h>

static int e2e_answer_fixed(int x) { return x + 2; }
HOTPATCH_REPLACE_C(e2e_answer, e2e_answer_fixed);
