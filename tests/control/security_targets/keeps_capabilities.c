/* A process that runs as another user but keeps its permitted capabilities (PR_SET_KEEPCAPS), and
 * makes itself dumpable again: its capabilities alone must keep that user out.
 * Usage: keeps_capabilities UID GID */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  uid_t uid = (uid_t)atoi(argv[1]);
  gid_t gid = (gid_t)atoi(argv[2]);
  if (prctl(PR_SET_KEEPCAPS, 1) != 0) return 3;
  if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) return 4;
  if (prctl(PR_SET_DUMPABLE, 1) != 0) return 5;
  printf("dropped\n");
  fflush(stdout);
  for (;;) pause();
}
