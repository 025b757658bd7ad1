/* A process that does nothing but stay alive, for tests that only talk to its control socket. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
