/* A program that knows nothing of hotpatch: it writes what answer() returns to a state file, over
 * and over, so a test can watch its behaviour change from outside. Built with -DLINKED it links
 * libhotpatch and enables control itself with the one C call, pinning the keys its environment names. */
#include <hotpatch/patch.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef LINKED
#include <hotpatch/control.h>
#endif

HOTPATCH_PATCHABLE int answer(void) { return 42; }

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s STATE_FILE\n", argv[0]);
    return 2;
  }
#ifdef LINKED
  const char* unsigned_ok = getenv("HOTPATCH_ALLOW_UNSIGNED");
  if (hotpatch_enable_control_pinned(NULL, getenv("HOTPATCH_TRUSTED_KEY"), unsigned_ok != NULL && unsigned_ok[0] == '1') != 0) {
    fprintf(stderr, "control: %s\n", hotpatch_control_last_error());
    return 1;
  }
#endif
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  for (;;) {
    FILE* f = fopen(tmp, "w");
    if (f != NULL) {
      fprintf(f, "%d\n", answer());
      fclose(f);
      rename(tmp, argv[1]);
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}
