/* A program started without hotpatch, for hotpatch attach to borrow a thread of. Its main thread
 * waits in the way MODE names and, for each line on stdin, prints "answer N" (answer() is what a
 * patch replaces). Every wait is checked: a surprise EINTR, a changed errno or a changed signal
 * mask is printed and ends the program with a code of its own, so a test sees the borrowing.
 *   attach_target epoll|read|poll|nanosleep|spin|fgets [block-all] [deny-wx]
 * fgets: the main thread waits inside stdio (fgets holds stdin's lock while it reads).
 * stale-loader: as epoll, its frame keeping in a local the address right after a call in the
 *               dynamic loader, as an uninitialised slot left over from start-up does.
 * nanosleep: one 2 s sleep first, then "slept MS", then it reads lines as `read` does.
 * block-all: every thread blocks every signal, and a second thread waits in epoll_wait for ever.
 * deny-wx: a seccomp filter refuses mprotect(PROT_EXEC) with EACCES, as systemd's
 *          MemoryDenyWriteExecute= does. */
#define _GNU_SOURCE
#include <hotpatch/patch.h>

#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

HOTPATCH_PATCHABLE int answer(void) { return 42; }

static sigset_t expected_mask;

static void say(const char* text) {
  size_t n = strlen(text);
  if (write(1, text, n) != (ssize_t)n) _exit(6);
}

static void check(const char* what, long rc) {
  char buf[128];
  if (rc < 0 && errno == EINTR) {
    snprintf(buf, sizeof buf, "EINTR from %s\n", what);
    say(buf);
    _exit(3);
  }
  if (rc < 0) {
    snprintf(buf, sizeof buf, "%s failed: %s\n", what, strerror(errno));
    say(buf);
    _exit(7);
  }
  if (errno != 77) {
    snprintf(buf, sizeof buf, "errno changed to %d in %s\n", errno, what);
    say(buf);
    _exit(4);
  }
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, NULL, &now);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&now, sig) != sigismember(&expected_mask, sig)) {
      snprintf(buf, sizeof buf, "signal mask changed (signal %d) in %s\n", sig, what);
      say(buf);
      _exit(5);
    }
  }
}

static void deny_write_execute(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(8);
}

static void* idle_waiter(void* arg) {
  (void)arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev;
  for (;;) epoll_wait(ep, &ev, 1, -1);
  return NULL;
}

static int find_loader_call(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  if (info->dlpi_name == NULL || strstr(info->dlpi_name, "/ld-linux") == NULL) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    const unsigned char* code = (const unsigned char*)(info->dlpi_addr + ph->p_vaddr);
    for (size_t k = 64; k + 5 < ph->p_memsz; ++k) {
      if (code[k] == 0xe8) {
        *(uintptr_t*)data = (uintptr_t)(code + k + 5);
        return 1;
      }
    }
  }
  return 0;
}

/* One line from stdin (the wait already happened); 0 at end of input. */
static int take_line(void) {
  char c;
  for (;;) {
    ssize_t n = read(0, &c, 1);
    if (n <= 0) return 0;
    if (c == '\n') return 1;
  }
}

static void reply(void) {
  char buf[64];
  snprintf(buf, sizeof buf, "answer %d\n", answer());
  say(buf);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "read";
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "deny-wx") == 0) deny_write_execute();
  }
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "block-all") != 0) continue;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    pthread_t t;
    pthread_create(&t, NULL, idle_waiter, NULL);
  }
  pthread_sigmask(SIG_SETMASK, NULL, &expected_mask);
  say("ready\n");
  if (strcmp(mode, "spin") == 0) {
    for (volatile unsigned long i = 0;; ++i) {
    }
  }
  if (strcmp(mode, "fgets") == 0) {
    char line[128];
    while (fgets(line, sizeof line, stdin) != NULL) reply();
    return 0;
  }
  if (strcmp(mode, "nanosleep") == 0) {
    struct timespec start, end, two = {2, 0};
    clock_gettime(CLOCK_MONOTONIC, &start);
    errno = 77;
    const int rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &two, NULL); /* returns the error, errno untouched */
    if (rc != 0) errno = rc;
    check("clock_nanosleep", rc != 0 ? -1 : 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    char buf[64];
    snprintf(buf, sizeof buf, "slept %ld\n", (long)((end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000));
    say(buf);
    mode = "read";
  }
  volatile uintptr_t stale_slot[2] = {0, 0};
  if (strcmp(mode, "stale-loader") == 0) {
    uintptr_t after_call = 0;
    dl_iterate_phdr(find_loader_call, &after_call);
    if (after_call == 0) _exit(9);
    stale_slot[0] = stale_slot[1] = after_call;
    mode = "epoll";
  }
  int ep = -1;
  if (strcmp(mode, "epoll") == 0) {
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  }
  for (;;) {
    errno = 77;
    if (ep >= 0) {
      struct epoll_event ev;
      check("epoll_wait", epoll_wait(ep, &ev, 1, -1));
    } else if (strcmp(mode, "poll") == 0) {
      struct pollfd p = {.fd = 0, .events = POLLIN};
      check("poll", poll(&p, 1, -1));
    } else {
      char c;
      ssize_t n = read(0, &c, 1);
      check("read", n);
      if (n == 0) return 0;
      if (c != '\n' && !take_line()) return 0;
      reply();
      continue;
    }
    if (!take_line()) return stale_slot[0] == 1;
    reply();
  }
}
