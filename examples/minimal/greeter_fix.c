#include <hotpatch/patch.h>
#include <stdio.h>

HOTPATCH_IMPORT(int, greetings, "greetings"); /* the program's static counter */

static void greet_politely(const char* who) { printf("Good day, dear %s! (%d)\n", who, ++*greetings); }
HOTPATCH_REPLACE_C(greet, greet_politely);
