/* A statically linked program: no dynamic loader, so nothing can be loaded into it. */
#include <unistd.h>

int main(void) {
  for (;;) sleep(1);
}
