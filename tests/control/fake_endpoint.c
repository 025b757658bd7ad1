/* A stand-in for a process's control endpoint, for tests of what the CLI does with hostile or
 * silent processes: it serves DIR/<its own pid>.sock (so the CLI's peer check passes) and answers
 * every request with the line given, or, with "--silent", accepts and never answers. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s DIR RESPONSE_LINE|--silent\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const int silent = strcmp(argv[2], "--silent") == 0;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%d.sock", argv[1], (int)getpid());
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (struct sockaddr*)&addr, sizeof addr) != 0 || chmod(addr.sun_path, 0600) != 0 ||
      listen(l, 64) != 0) {
    perror("fake endpoint");
    return 1;
  }
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    if (silent) continue; /* keep the connection open, say nothing */
    char buf[4096];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0 && memchr(buf, '\n', (size_t)n) == NULL) {
    }
    dprintf(c, "%s\n", argv[2]);
    close(c);
  }
}
