/* Compiles as C99 with nothing before it. */
#include <hotpatch/hotpatch.h>
#include <hotpatch/version.h>
