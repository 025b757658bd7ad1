/* A live patch for Debian's redis-server 7.0 (/usr/bin/redis-server): GET runs through the patch.
 * It replaces getCommand() (a 5-byte jump to getGenericCommand, exported in redis's .dynsym) with
 * the same call made from the patch, so replies do not change: what it proves is that the patch
 * applies into a fresh server under load, whose jemalloc background thread blocks every signal. */
#include <hotpatch/patch.h>

HOTPATCH_IMPORT(int(void*), get_generic, "getGenericCommand");

static void get_from_patch(void* client) { (void)get_generic(client); }

HOTPATCH_REPLACE_C(getCommand, get_from_patch);
