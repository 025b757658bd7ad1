#include "engine/entry_redirect.hpp"

#include "os/linux/memory_map.hpp"
#include "os/linux/near_allocator.hpp"

#include <algorithm>
#include <cstring>

namespace hotpatch::engine {
namespace {

// Functions within this span share a block; the block is placed within kBlockReach of the first,
// so every member reaches it (and back) with rel32.
constexpr std::uint64_t kGroupSpan = 512ull << 20;
constexpr std::uint64_t kBlockReach = 1ull << 30;
constexpr std::size_t kCodeStride = 80;  // trampoline (<= 64) + thunk (6), 16-aligned
static_assert(arch::kMaxTrampolineSize + arch::kSlotThunkSize <= kCodeStride);

Status build_group(std::span<const RedirectRequest> group, std::vector<EntryRedirect>& out,
                   std::vector<RedirectBlock>& blocks) {
  const std::size_t page = os::page_size();
  const std::size_t code_size = (group.size() * kCodeStride + page - 1) & ~(page - 1);
  const std::size_t data_size = (group.size() * sizeof(std::uintptr_t) + page - 1) & ~(page - 1);
  HOTPATCH_LET(base, os::map_near(group.front().function, code_size + data_size, kBlockReach));
  blocks.push_back({base, code_size + data_size});
  auto* code = reinterpret_cast<std::uint8_t*>(base);
  std::memset(code, arch::kInt3, code_size);  // anything not written traps
  for (std::size_t i = 0; i < group.size(); ++i) {
    const RedirectRequest& req = group[i];
    EntryRedirect r;
    r.name = req.name;
    r.function = req.function;
    r.site = req.function + req.plan.site_offset;
    r.plan = req.plan;
    r.trampoline = base + i * kCodeStride;
    r.slot = base + code_size + i * sizeof(std::uintptr_t);
    HOTPATCH_LET(relocated, arch::relocate_entry(r.plan, r.site, r.trampoline, r.name));
    r.relocated = std::move(relocated);
    std::memcpy(code + i * kCodeStride, r.relocated.bytes.data(), r.relocated.bytes.size());
    r.thunk = (r.trampoline + r.relocated.bytes.size() + 15) & ~std::uintptr_t{15};
    auto thunk = arch::encode_slot_thunk(r.thunk, r.slot);
    auto jump = arch::encode_jump_rel32(r.site, r.thunk);
    if (!thunk || !jump)
      return make_error(ErrorCode::internal, r.name, "redirect memory is out of rel32 reach of the function");
    std::memcpy(reinterpret_cast<void*>(r.thunk), thunk->data(), thunk->size());
    r.jump = *jump;
    if (req.pad) {
      r.pad = req.pad;
      auto pad_jump = arch::encode_jump_rel32(r.pad_address(), r.thunk);
      if (!pad_jump) return make_error(ErrorCode::internal, r.name, "redirect memory is out of rel32 reach of the pad");
      r.pad_jump = *pad_jump;
    }
    *reinterpret_cast<std::uintptr_t*>(r.slot) = req.initial_target;
    out.push_back(std::move(r));
  }
  HOTPATCH_TRY(os::protect_code(base, code_size));
  HOTPATCH_TRY(os::protect_read_only(base + code_size, data_size));
  return {};
}

}  // namespace

Status build_redirects(std::span<const RedirectRequest> requests, std::vector<EntryRedirect>& out,
                       std::vector<RedirectBlock>& blocks) {
  std::vector<RedirectRequest> sorted(requests.begin(), requests.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.function < b.function; });
  std::size_t start = 0;
  while (start < sorted.size()) {
    std::size_t end = start + 1;
    while (end < sorted.size() && sorted[end].function - sorted[start].function < kGroupSpan) ++end;
    HOTPATCH_TRY(build_group(std::span(sorted).subspan(start, end - start), out, blocks));
    start = end;
  }
  return {};
}

}  // namespace hotpatch::engine
