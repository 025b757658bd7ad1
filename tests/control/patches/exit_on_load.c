/* Makes the target exit while it is loading the patch, i.e. in the middle of a control request. */
#include <hotpatch/patch.h>
#include <unistd.h>
static int never(void) { return 0; }
HOTPATCH_REPLACE_C(answer, never);
__attribute__((constructor)) static void leave(void) { _exit(7); }
