/* The end-to-end benchmark's target: a small C service, preloaded with the runtime, whose one
 * patchable function the benchmark patches through `hotpatch apply --pid`. */
#include <hotpatch/patch.h>

#include <stdio.h>
#include <unistd.h>

HOTPATCH_PATCHABLE int e2e_answer(int x) { return x + 1; }

int main(void) {
  volatile int sink = 0;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    sink = e2e_answer(sink);
    usleep(1000);
  }
}
