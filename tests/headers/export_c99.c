/* Compiles as C99 with nothing before it. */
#include <hotpatch/export.h>
#include <hotpatch/version.h>
