#include <hotpatch/patch.h>
/* Targets a function the program does not have: the runtime refuses it when applying. */
static int fixed(void) { return 0; }
HOTPATCH_REPLACE_C(no_such_function_in_the_target, fixed);
