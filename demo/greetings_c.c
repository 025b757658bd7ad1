#include "greetings.h"

#include <hotpatch/patch.h>
#include <stdio.h>

HOTPATCH_PATCHABLE void say_hello_c(int n) { printf("Hello, from C function! %d\n", n); }
