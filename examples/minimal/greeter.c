#include <hotpatch/hotpatch.h>
#include <hotpatch/patch.h>
#include <stdio.h>

static int greetings = 0;

HOTPATCH_PATCHABLE void greet(const char* who) { printf("hello %s (%d)\n", who, ++greetings); }

int main(int argc, char** argv) {
  greet("world");
  if (argc > 1 && hotpatch_apply(argv[1]) != HOTPATCH_OK) {
    fprintf(stderr, "patch refused: %s\n", hotpatch_last_error());
    return 1;
  }
  greet("world");
  return 0;
}
