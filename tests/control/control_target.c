/* A program that knows nothing of hotpatch: it writes what answer() returns to a state file, over
 * and over, so a test can watch its behaviour change from outside. With a second argument "fork" it
 * forks a worker once its endpoint is up, as a pre-forking server does; the worker writes to
 * STATE_FILE.worker instead. Built with -DLINKED it links
 * libhotpatch and enables control itself with the one C call, pinning the keys its environment names. */
#include <hotpatch/patch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
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
  char state[4096];
  snprintf(state, sizeof state, "%s", argv[1]);
  if (argc > 2 && strcmp(argv[2], "fork") == 0) {
    const char* dir = getenv("HOTPATCH_CONTROL_DIR");
    char sock[4096];
    snprintf(sock, sizeof sock, "%s/%d.sock", dir != NULL ? dir : ".", (int)getpid());
    for (int i = 0; i < 500 && access(sock, F_OK) != 0; ++i) usleep(10000);
    usleep(100000);  /* the endpoint's thread idle in poll(), as when a real server forks */
    const pid_t worker = fork();
    if (worker < 0) return 3;
    if (worker == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      snprintf(state, sizeof state, "%s.worker", argv[1]);
    }
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", state);
  for (;;) {
    FILE* f = fopen(tmp, "w");
    if (f != NULL) {
      fprintf(f, "%d\n", answer());
      fclose(f);
      rename(tmp, state);
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}
