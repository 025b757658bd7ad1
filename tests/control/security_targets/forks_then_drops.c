/* A pre-forking server: the parent forks a worker that drops to another user, as nginx's workers
 * become nobody. Usage: forks_then_drops UID GID; prints "worker PID" once the worker dropped. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  uid_t uid = (uid_t)atoi(argv[1]);
  gid_t gid = (gid_t)atoi(argv[2]);
  /* Fork once the endpoint's thread is up and idle in poll(), as a real server forks long after
   * start. (The ASan runtime of GCC 12 has no fork handler for its allocator: a fork while another
   * thread allocates would leave the child's allocator locked.) */
  const char* dir = getenv("HOTPATCH_CONTROL_DIR");
  if (dir != NULL) {
    char sock[4096];
    snprintf(sock, sizeof sock, "%s/%d.sock", dir, (int)getpid());
    for (int i = 0; i < 500 && access(sock, F_OK) != 0; ++i) usleep(10000);
  }
  usleep(100000);
  pid_t worker = fork();
  if (worker < 0) return 3;
  if (worker == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) return 4;
    printf("worker %d\n", (int)getpid());
    fflush(stdout);
  }
  for (;;) pause();
}
