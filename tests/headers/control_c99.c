/* Compiles as C99 with nothing before it. */
#include <hotpatch/control.h>
#include <hotpatch/version.h>
