/* A daemon that reads a root-only secret, then drops to another user: the kernel then makes it
 * non-dumpable, and only root may attach to it. Usage: drops_to_nobody SECRET_FILE UID GID */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  int secret = open(argv[1], O_RDONLY);
  if (secret < 0) return 3;
  uid_t uid = (uid_t)atoi(argv[2]);
  gid_t gid = (gid_t)atoi(argv[3]);
  if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) return 4;
  printf("dropped\n");
  fflush(stdout);
  for (;;) pause();
}
