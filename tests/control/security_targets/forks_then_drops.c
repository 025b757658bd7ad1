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
