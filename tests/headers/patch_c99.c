/* Compiles as C99 with nothing before it. */
#include <hotpatch/patch.h>
#include <hotpatch/version.h>
