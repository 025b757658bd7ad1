// Pointer stores into read-only pages: every value lands, the pages are read-only again afterwards,
// and slots the kernel cannot make writable or that sit in code are refused with the reason.
#include "os/linux/code_writer.hpp"
#include "os/linux/memory_map.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using hotpatch::os::PointerStore;

int prot_of(std::uintptr_t address) {
  auto maps = hotpatch::os::read_memory_map();
  if (!maps) return -1;
  auto m = hotpatch::os::mapping_of(*maps, address);
  return m ? m->prot : -1;
}

struct Pages {
  explicit Pages(std::size_t n, int prot) : size(n * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base = p == MAP_FAILED ? 0 : reinterpret_cast<std::uintptr_t>(p);
    if (base != 0) ::mprotect(p, size, prot);
  }
  ~Pages() {
    if (base != 0) ::munmap(reinterpret_cast<void*>(base), size);
  }
  std::size_t size;
  std::uintptr_t base = 0;
};

TEST(PointerStore, ManySlotsOnTwoReadOnlyPagesAllLandAndThePagesStayReadOnly) {
  Pages pages(2, PROT_READ);
  ASSERT_NE(pages.base, 0u);
  std::vector<PointerStore> stores;
  const std::size_t slots = pages.size / sizeof(std::uintptr_t);
  for (std::size_t i = 0; i < slots; i += 3) stores.push_back({pages.base + i * 8, 0x1000 + i, PROT_READ});
  std::size_t done = 0;
  auto s = hotpatch::os::store_pointers(stores, done);
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_EQ(done, stores.size());
  for (const auto& st : stores) EXPECT_EQ(*reinterpret_cast<const std::uintptr_t*>(st.address), st.value);
  EXPECT_EQ(prot_of(pages.base), PROT_READ);
  EXPECT_EQ(prot_of(pages.base + pages.size - 1), PROT_READ);
}

TEST(PointerStore, ProtectionIsLookedUpWhenNotGiven) {
  Pages pages(1, PROT_READ);
  ASSERT_NE(pages.base, 0u);
  const PointerStore one{pages.base + 64, 42, -1};
  std::size_t done = 0;
  ASSERT_TRUE(hotpatch::os::store_pointers(std::span(&one, 1), done));
  EXPECT_EQ(*reinterpret_cast<const std::uintptr_t*>(pages.base + 64), 42u);
  EXPECT_EQ(prot_of(pages.base), PROT_READ);
}

TEST(PointerStore, SlotInExecutableMemoryIsRefusedAndNothingAfterItIsStored) {
  Pages data(1, PROT_READ);
  Pages code(1, PROT_READ | PROT_EXEC);
  ASSERT_NE(data.base, 0u);
  ASSERT_NE(code.base, 0u);
  const std::vector<PointerStore> stores{{data.base, 7, PROT_READ}, {code.base, 8, -1}, {data.base + 4096 - 8, 9, PROT_READ}};
  std::size_t done = 0;
  auto s = hotpatch::os::store_pointers(stores, done);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("pointer slot lies in executable memory"), std::string::npos) << s.error().what();
  EXPECT_EQ(done, 1u);
  EXPECT_EQ(*reinterpret_cast<const std::uintptr_t*>(code.base), 0u);
  EXPECT_EQ(*reinterpret_cast<const std::uintptr_t*>(data.base + 4096 - 8), 0u);
}

TEST(PointerStore, MisalignedSlotIsRefusedBeforeAnyStore) {
  Pages data(1, PROT_READ);
  ASSERT_NE(data.base, 0u);
  const std::vector<PointerStore> stores{{data.base, 7, PROT_READ}, {data.base + 12, 8, PROT_READ}};
  std::size_t done = 0;
  auto s = hotpatch::os::store_pointers(stores, done);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not aligned"), std::string::npos) << s.error().what();
  EXPECT_EQ(done, 0u);
  EXPECT_EQ(*reinterpret_cast<const std::uintptr_t*>(data.base), 0u);
}

TEST(PointerStore, PageTheKernelWillNotMakeWritableIsNamed) {
  // A read-only shared mapping of a file opened read-only: mprotect(PROT_WRITE) gives EACCES.
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(::ftruncate(fileno(f), 4096), 0);
  const std::string path = "/proc/self/fd/" + std::to_string(fileno(f));
  const int ro = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(ro, 0);
  void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, ro, 0);
  ASSERT_NE(p, MAP_FAILED);
  const PointerStore one{reinterpret_cast<std::uintptr_t>(p), 5, PROT_READ};
  std::size_t done = 0;
  auto s = hotpatch::os::store_pointers(std::span(&one, 1), done);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("making the pointer's page writable was denied: mprotect: Permission denied"),
            std::string::npos)
      << s.error().what();
  ::munmap(p, 4096);
  ::close(ro);
  std::fclose(f);
}

}  // namespace
