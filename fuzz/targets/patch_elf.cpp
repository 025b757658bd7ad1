// The loader-structure check on mutated shared objects. Oracle: nothing it accepts makes ld.so
// assert, crash or hang, and every export it finds is what dlsym returns. Each accepted input is
// loaded with dlopen in a throw-away child process (a fork of this one), never in the fuzzer itself.
//
// What the child's sandbox guarantees:
//  - No byte of the input runs as code: the child loads a copy whose PT_LOAD segments lose PF_X, so
//    a call into the object (constructor, DT_INIT, a pointer the relocations produced) faults on the
//    instruction fetch; the handler makes that call return at once and loading carries on.
//    Relocations are validated to hold no IRELATIVE and no IFUNC symbol, so no resolver runs either.
//  - No network (a new network namespace when unshare is permitted) and, whatever the privileges,
//    a seccomp filter refusing socket, connect, execve, execveat, ptrace and process_vm_writev.
//  - It works in an empty directory, cannot create or grow files (RLIMIT_FSIZE 0), holds at most
//    32 descriptors, has 2 s of CPU and is killed by an alarm after 5 s. RLIMIT_AS is bounded only
//    without ASan, which reserves terabytes of shadow address space.
// What it does not guarantee: libraries the input names in DT_NEEDED are real system libraries and
// their constructors do run (with the limits above); the child shares the file system view, reads
// files, and runs as the fuzzer's user.
#include "check.hpp"
#include "engine/patch_object.hpp"
#include "image/loadable_elf.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum ChildExit {
  kLoaded = 0,
  kRefusedByLoader = 1,  // dlopen returned NULL with a message: a clean refusal
  kBadCallTarget = 2,    // the object made ld.so call a non-canonical address: its data, not ld.so's fault
  kExportMismatch = 3,
  kSetupFailed = 4,
};

struct Export {
  std::string name;
  std::uint64_t value;
};

std::vector<std::uint8_t> without_execute(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> copy(data, data + size);
  Elf64_Ehdr eh;
  std::memcpy(&eh, copy.data(), sizeof eh);  // the check accepted it: header and table are in range
  for (std::size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, copy.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD) ph.p_flags &= ~PF_X;
    std::memcpy(copy.data() + eh.e_phoff + i * sizeof ph, &ph, sizeof ph);
  }
  return copy;
}

// A fault on the fetch of the instruction at the call target (non-executable or unmapped): return to the caller, which ld.so
// sees as a constructor that did nothing. A general-protection fault on an indirect call or jump to
// a non-canonical address ends the child as kBadCallTarget. Anything else is a real crash: re-raised.
void on_fault(int sig, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  auto& regs = uc->uc_mcontext.gregs;
  const auto rip = static_cast<std::uintptr_t>(regs[REG_RIP]);
  if (sig == SIGSEGV && (info->si_code == SEGV_ACCERR || info->si_code == SEGV_MAPERR) &&
      reinterpret_cast<std::uintptr_t>(info->si_addr) == rip) {
    std::uintptr_t ret;
    std::memcpy(&ret, reinterpret_cast<const void*>(regs[REG_RSP]), sizeof ret);
    regs[REG_RIP] = static_cast<greg_t>(ret);
    regs[REG_RSP] += 8;
    return;
  }
  if (sig == SIGSEGV && info->si_code == SI_KERNEL) {
    const auto* insn = reinterpret_cast<const std::uint8_t*>(rip);
    const std::uint8_t* op = (insn[0] & 0xf0) == 0x40 ? insn + 1 : insn;  // REX prefix
    if (op[0] == 0xff && ((op[1] >> 3) & 7) >= 2 && ((op[1] >> 3) & 7) <= 5) ::_exit(kBadCallTarget);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

bool deny_dangerous_syscalls() {
  const int denied[] = {SYS_socket, SYS_connect, SYS_execve, SYS_execveat, SYS_ptrace, SYS_process_vm_writev};
  std::vector<sock_filter> f = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  for (int nr : denied) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

[[noreturn]] void child(const std::vector<std::uint8_t>& bytes, const std::vector<Export>& exports, int err_fd) {
  ::dup2(err_fd, 2);
  ::dup2(err_fd, 1);
  ::alarm(5);
  char dir[] = "/tmp/hp-fuzz-dlopen-XXXXXX";
  if (::mkdtemp(dir) == nullptr || ::chdir(dir) != 0 || ::rmdir(dir) != 0) ::_exit(kSetupFailed);
  const int fd = ::memfd_create("hp-fuzz-patch", MFD_CLOEXEC);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) ::_exit(kSetupFailed);
  (void)::unshare(CLONE_NEWNET);  // not permitted everywhere: the seccomp filter covers that case
  rlimit fsize{0, 0}, files{32, 32}, cpu{2, 2};
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  ::setrlimit(RLIMIT_NOFILE, &files);
  ::setrlimit(RLIMIT_CPU, &cpu);
#if !defined(__has_feature) || !__has_feature(address_sanitizer)
  rlimit as{1ull << 32, 1ull << 32};
  ::setrlimit(RLIMIT_AS, &as);
#endif
  if (!deny_dangerous_syscalls()) ::_exit(kSetupFailed);
  struct sigaction sa{};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::sigaction(sig, &sa, nullptr);

  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) ::_exit(kRefusedByLoader);
  link_map* map = nullptr;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0) ::_exit(kSetupFailed);
  for (const auto& e : exports) {
    void* found = ::dlsym(handle, e.name.c_str());
    if (reinterpret_cast<std::uintptr_t>(found) != map->l_addr + e.value) {
      std::fprintf(stderr, "export %s: dlsym gives %p, the check found %#llx\n", e.name.c_str(), found,
                   static_cast<unsigned long long>(map->l_addr + e.value));
      ::_exit(kExportMismatch);
    }
  }
  ::_exit(kLoaded);
}

void load_in_child(const std::uint8_t* data, std::size_t size, const std::vector<Export>& exports) {
  const auto bytes = without_execute(data, size);
  int fds[2];
  HP_FUZZ_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  HP_FUZZ_CHECK(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(bytes, exports, fds[1]);
  }
  ::close(fds[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (err.size() < 65536) err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool assertion = err.find("Inconsistency detected by ld.so") != std::string::npos;
  const bool signalled = WIFSIGNALED(status);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (signalled || assertion || code == 127 || code == kExportMismatch || code == kSetupFailed) {
    std::fprintf(stderr, "accepted object broke the loader: %s %d\n--- child stderr ---\n%s\n",
                 signalled ? "signal" : "exit code", signalled ? WTERMSIG(status) : code, err.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto loadable = hotpatch::image::check_loadable_elf({data, size}, "input");
  if (!loadable) {
    HP_FUZZ_CHECK(loadable.error().code == hotpatch::ErrorCode::malformed_patch);
    HP_FUZZ_CHECK(!loadable.error().message.empty());
    return 0;
  }
  // The exports an apply would bind, when the input is a whole patch.
  std::vector<Export> exports;
  if (auto image = hotpatch::engine::patch_image_from_bytes({data, data + size}, "input")) {
    HP_FUZZ_CHECK(image->sha256.size() == 64);
    auto add = [&](const std::string& name) {
      auto sym = loadable->find_export(name);
      HP_FUZZ_CHECK(sym.has_value());
      exports.push_back({name, sym->value});
    };
    for (const auto& r : image->manifest.replaces) add(r.replacement_symbol);
    for (const auto& i : image->manifest.imports) add(i.variable);
  }
  load_in_child(data, size, exports);
  return 0;
}
