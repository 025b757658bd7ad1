#include "os/linux/code_writer.hpp"

#include "os/linux/memory_map.hpp"
#include "support/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <string>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>

namespace hotpatch::os {
namespace {

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#lx", static_cast<unsigned long>(v));
  return buf;
}

enum class Method { unknown, proc_mem, mprotect };

struct WriterState {
  std::mutex mutex;
  int mem_fd = -1;
  // /proc/self/mem names the opener's memory: a forked child must reopen it. Set in the child by
  // an atfork handler (getpid on every write would cost a system call each).
  std::atomic<bool> forked{false};
  Method method = Method::unknown;
  std::string proc_mem_failure;  // why /proc/self/mem is not used, for error messages
};

WriterState& state() {
  static WriterState* s = [] {
    auto* made = new WriterState;  // never destroyed: patched code may run during exit
    pthread_atfork(nullptr, nullptr, [] { state().forked.store(true, std::memory_order_relaxed); });
    return made;
  }();
  return *s;
}

// An unknown value is an error rather than automatic choice: whoever set it meant one method.
Result<Method> forced_method() {
  const char* env = std::getenv("HOTPATCH_CODE_WRITE");
  if (env == nullptr || *env == '\0') return Method::unknown;
  if (std::strcmp(env, "proc_mem") == 0) return Method::proc_mem;
  if (std::strcmp(env, "mprotect") == 0) return Method::mprotect;
  return make_error(ErrorCode::invalid_argument, "HOTPATCH_CODE_WRITE",
                    "'" + log::escape_line(env) + "' is not proc_mem or mprotect");
}

// Returns an empty string on success, otherwise what went wrong.
std::string write_proc_mem(WriterState& s, std::uintptr_t address, const std::uint8_t* bytes, std::size_t n) {
  if (s.mem_fd >= 0 && s.forked.exchange(false, std::memory_order_relaxed)) {
    ::close(s.mem_fd);
    s.mem_fd = -1;
  }
  if (s.mem_fd < 0) {
    s.mem_fd = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (s.mem_fd < 0) return std::string("open(/proc/self/mem): ") + std::strerror(errno);
  }
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(s.mem_fd, bytes + done, n - done, static_cast<off_t>(address + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return std::string("pwrite(/proc/self/mem): ") + (w < 0 ? std::strerror(errno) : "wrote nothing");
    done += static_cast<std::size_t>(w);
  }
  return {};
}

// A store into code: uninstrumented, since ThreadSanitizer keeps no shadow memory for code pages
// and its instrumented store would fault there.
__attribute__((no_sanitize_thread, noinline)) void store_code_bytes(std::uintptr_t address, const std::uint8_t* bytes,
                                                                     std::size_t n) {
  auto* dst = reinterpret_cast<volatile std::uint8_t*>(address);
  for (std::size_t i = 0; i < n; ++i) dst[i] = bytes[i];
}

std::string write_mprotect(std::uintptr_t address, const std::uint8_t* bytes, std::size_t n) {
  auto maps = read_memory_map();
  if (!maps) return maps.error().what();
  auto mapping = mapping_of(*maps, address);
  auto last = mapping_of(*maps, address + n - 1);
  if (!mapping || !last) return "address " + hex(address) + " is not mapped";
  const std::uintptr_t page = address & ~(page_size() - 1);
  const std::size_t span = ((address + n - 1) & ~(page_size() - 1)) + page_size() - page;
  void* p = reinterpret_cast<void*>(page);
  if (::mprotect(p, span, mapping->prot | PROT_WRITE | PROT_EXEC) != 0)
    return std::string("mprotect(PROT_WRITE|PROT_EXEC): ") + std::strerror(errno);
  store_code_bytes(address, bytes, n);
  if (::mprotect(p, span, mapping->prot) != 0 || (last->prot != mapping->prot && ::mprotect(p, span, last->prot) != 0))
    return std::string("mprotect restoring protection: ") + std::strerror(errno);
  return {};
}

}  // namespace

Status write_code(std::uintptr_t address, const std::uint8_t* bytes, std::size_t n) {
  if (n == 0) return {};
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (s.method == Method::unknown) {
    HOTPATCH_LET(forced, forced_method());
    s.method = forced;
  }

  if (s.method != Method::mprotect) {
    std::string failure = write_proc_mem(s, address, bytes, n);
    if (failure.empty()) {
      s.method = Method::proc_mem;
      return {};
    }
    if (auto forced = forced_method(); s.method == Method::proc_mem && forced && *forced == Method::proc_mem)
      return make_error(ErrorCode::write_denied, hex(address), "writing code was denied: " + failure);
    s.proc_mem_failure = failure;
    log::info("code writes fall back to mprotect: " + failure);
    s.method = Method::mprotect;
  }
  std::string failure = write_mprotect(address, bytes, n);
  if (failure.empty()) return {};
  std::string why = "writing code was denied by the kernel or a security policy: ";
  if (!s.proc_mem_failure.empty()) why += s.proc_mem_failure + "; ";
  why += failure;
  // Next time, try /proc/self/mem again: the policy may have changed.
  if (auto forced = forced_method(); forced && *forced == Method::unknown) s.method = Method::unknown;
  return make_error(ErrorCode::write_denied, hex(address), why);
}

Status store_pointers(std::span<const PointerStore> stores, std::size_t& done) {
  done = 0;
  std::optional<std::vector<Mapping>> maps;
  for (const auto& st : stores) {
    if (st.address % alignof(std::uintptr_t) != 0)
      return make_error(ErrorCode::internal, hex(st.address), "pointer slot is not aligned");
    if (st.known_prot < 0 && !maps) {
      auto read = read_memory_map();
      if (!read) return read.error();
      maps = std::move(*read);
    }
  }
  const std::uintptr_t page_mask = ~(page_size() - 1);
  while (done < stores.size()) {
    const PointerStore& first = stores[done];
    int prot = first.known_prot;
    if (prot < 0) {
      auto mapping = mapping_of(*maps, first.address);
      if (!mapping) return make_error(ErrorCode::internal, hex(first.address), "pointer slot is not mapped");
      prot = mapping->prot;
    }
    // The run of stores into the same page: one protection change serves them all.
    const std::uintptr_t page = first.address & page_mask;
    std::size_t end = done + 1;
    while (end < stores.size() && (stores[end].address & page_mask) == page) ++end;
    auto store_run = [&] {
      for (; done < end; ++done)
        __atomic_store_n(reinterpret_cast<std::uintptr_t*>(stores[done].address), stores[done].value, __ATOMIC_RELEASE);
    };
    if (prot & PROT_WRITE) {
      store_run();
      continue;
    }
    if (prot & PROT_EXEC)
      return make_error(ErrorCode::not_patchable, hex(first.address),
                        "pointer slot lies in executable memory; it cannot be switched atomically there");
    void* p = reinterpret_cast<void*>(page);
    // Never add PROT_EXEC here: a data page becomes RW for these stores only.
    if (::mprotect(p, page_size(), (prot & ~PROT_EXEC) | PROT_WRITE) != 0)
      return make_error(ErrorCode::write_denied, hex(first.address),
                        std::string("making the pointer's page writable was denied: mprotect: ") + std::strerror(errno));
    store_run();
    if (::mprotect(p, page_size(), prot) != 0)
      return make_error(ErrorCode::internal, hex(first.address),
                        std::string("restoring the pointer page's protection failed: ") + std::strerror(errno));
  }
  return {};
}

Status store_pointer(std::uintptr_t address, std::uintptr_t value, int known_prot) {
  const PointerStore one{address, value, known_prot};
  std::size_t done = 0;
  return store_pointers(std::span(&one, 1), done);
}

}  // namespace hotpatch::os
