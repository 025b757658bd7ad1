/* counter.c — a program with a bug in a static function that uses a static counter. */
#include <hotpatch/hotpatch.h>
#include <stdio.h>

static int calls;

static int capped(int x) {
  ++calls;
  return x > 50 ? 50 : x;
}

int next_value(int x) { return capped(x * 2) + calls; }

int main(int argc, char** argv) {
  printf("%d\n", next_value(30));
  if (argc > 1 && hotpatch_apply(argv[1]) != HOTPATCH_OK) {
    fprintf(stderr, "patch refused: %s\n", hotpatch_last_error());
    return 1;
  }
  printf("%d\n", next_value(30));
  return 0;
}
