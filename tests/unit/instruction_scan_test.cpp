// Entry checks and trampoline relocation on hand-assembled functions.
#include "arch/x86_64/instruction_scan.hpp"
#include "arch/x86_64/jump_encoding.hpp"

#include <Zydis/Zydis.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

using namespace hotpatch;
using ::testing::HasSubstr;

namespace {

constexpr std::uint64_t kAt = 0x401000;

Result<arch::EntryPlan> plan(const std::vector<std::uint8_t>& code, std::size_t size = 0) {
  return arch::plan_entry(code.data(), size ? size : code.size(), kAt, "f");
}

std::string refusal(const std::vector<std::uint8_t>& code, std::size_t size = 0) {
  auto r = plan(code, size);
  EXPECT_FALSE(r.has_value());
  if (r.has_value()) return {};
  EXPECT_EQ(r.error().code, ErrorCode::not_patchable);
  return r.error().what();
}

// Absolute target of the first relative operand of the instruction at `p`.
std::uint64_t target_of(const std::uint8_t* p, std::size_t n, std::uint64_t address, std::size_t* length = nullptr) {
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  EXPECT_TRUE(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, p, n, &in, ops)));
  if (length) *length = in.length;
  for (int i = 0; i < in.operand_count_visible; ++i) {
    std::uint64_t t = 0;
    const bool rel = (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP) ||
                     (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative);
    if (rel && ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &ops[i], address, &t))) return t;
  }
  return 0;
}

TEST(PlanEntry, OrdinaryPrologue) {
  // push rbp; mov rbp,rsp; mov eax,edi; pop rbp; ret
  auto p = plan({0x55, 0x48, 0x89, 0xe5, 0x89, 0xf8, 0x5d, 0xc3});
  ASSERT_TRUE(p.has_value()) << p.error().what();
  EXPECT_EQ(p->site_offset, 0u);
  EXPECT_EQ(p->overwritten, 6u);
  EXPECT_EQ(p->first_instruction, 1u);
  EXPECT_TRUE(p->needs_thread_check());
}

TEST(PlanEntry, JumpGoesAfterEndbr64) {
  auto p = plan({0xf3, 0x0f, 0x1e, 0xfa, 0xb8, 0x2a, 0, 0, 0, 0xc3});  // endbr64; mov eax,42; ret
  ASSERT_TRUE(p.has_value()) << p.error().what();
  EXPECT_EQ(p->site_offset, 4u);
  EXPECT_EQ(p->overwritten, 5u);
  EXPECT_FALSE(p->needs_thread_check()) << "one 5-byte instruction: nobody can stand inside it";
}

// endbr64 + 4 bytes: too short to keep the endbr64. Without indirect-branch tracking it is a NOP
// and the jump may cover it (a thread may stand after it, so the check runs); with IBT, refused.
TEST(PlanEntry, ShortEndbr64FunctionIsOverwrittenWholeOnlyWithoutIbt) {
  const std::vector<std::uint8_t> code{0xf3, 0x0f, 0x1e, 0xfa, 0x8d, 0x47, 0x01, 0xc3};  // endbr64; lea eax,[rdi+1]; ret
  auto p = arch::plan_entry(code.data(), code.size(), kAt, "t_endbr", /*ibt_enforced=*/false);
  ASSERT_TRUE(p.has_value()) << p.error().what();
  EXPECT_EQ(p->site_offset, 0u);
  EXPECT_EQ(p->overwritten, 7u);
  EXPECT_EQ(p->first_instruction, 4u);
  EXPECT_TRUE(p->needs_thread_check());
  auto refused = arch::plan_entry(code.data(), code.size(), kAt, "t_endbr", /*ibt_enforced=*/true);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().what(),
              HasSubstr("function is too short: 8 bytes, but the entry jump needs 9 (its endbr64 stays: "
                        "indirect-branch tracking is enforced)"));
}

TEST(PlanEntry, Refusals) {
  EXPECT_THAT(refusal({0x89, 0xf8, 0xc3}), HasSubstr("function is too short: 3 bytes, but the entry jump needs 5"));
  EXPECT_THAT(refusal({0x31, 0xc0, 0xc3, 0x90, 0x90, 0x90}), HasSubstr("entry block ends after 3 bytes"));
  EXPECT_THAT(refusal({0x53, 0xe8, 0, 0, 0, 0, 0x5b, 0xc3}), HasSubstr("a call at +1"));
  // xor eax,eax; L: add eax,edi; sub edi,1; jg L; ret
  EXPECT_THAT(refusal({0x31, 0xc0, 0x01, 0xf8, 0x83, 0xef, 0x01, 0x7f, 0xf9, 0xc3}),
              HasSubstr("the branch at +7 jumps to +2, inside the 7 bytes the entry jump overwrites"));
  EXPECT_THAT(refusal({0x0f, 0x0b, 0x0f, 0xff, 0xff, 0xff, 0xff}, 7), HasSubstr("entry block ends after 2 bytes"));
  EXPECT_THAT(refusal({0x06, 0x06, 0x06, 0x06, 0x06, 0x06}), HasSubstr("cannot decode the instruction at +0"));
  EXPECT_THAT(refusal({0x90}, 0), HasSubstr("too short"));
  std::vector<std::uint8_t> any{0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3};
  auto r = arch::plan_entry(any.data(), 0, kAt, "f");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().what(), HasSubstr("gives no size"));
}

TEST(PlanEntry, BranchToTheEntryItselfIsAllowed) {
  // L: sub edi,1 (3); jg L (2 bytes, back to +0); ret  -- like a tail call to itself
  auto p = plan({0x83, 0xef, 0x01, 0x7f, 0xfb, 0x89, 0xf8, 0xc3});
  ASSERT_TRUE(p.has_value()) << p.error().what();
}

TEST(Relocate, RipRelativeLoadKeepsItsTarget) {
  // mov eax,[rip+0x10]; add eax,edi; ret
  std::vector<std::uint8_t> code{0x8b, 0x05, 0x10, 0, 0, 0, 0x01, 0xf8, 0xc3};
  auto p = plan(code);
  ASSERT_TRUE(p.has_value()) << p.error().what();
  EXPECT_EQ(p->overwritten, 6u);
  const std::uint64_t tramp = kAt + 0x100000;
  auto r = arch::relocate_entry(*p, kAt, tramp, "f");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  std::size_t len = 0;
  EXPECT_EQ(target_of(r->bytes.data(), r->bytes.size(), tramp, &len), kAt + 6 + 0x10);
  EXPECT_EQ(r->offset_map[0], 0);
  // then a jump back to the first byte not copied
  EXPECT_EQ(target_of(r->bytes.data() + len, r->bytes.size() - len, tramp + len), kAt + 6);
}

TEST(Relocate, ShortConditionalBranchGrowsAndKeepsItsTarget) {
  // test edi,edi; je +3 (to +7); lea eax,[rdi+1]; ret; xor eax,eax; ret
  std::vector<std::uint8_t> code{0x85, 0xff, 0x74, 0x04, 0x8d, 0x47, 0x01, 0xc3, 0x31, 0xc0, 0xc3};
  auto p = plan(code);
  ASSERT_TRUE(p.has_value()) << p.error().what();
  EXPECT_EQ(p->overwritten, 7u);
  const std::uint64_t tramp = kAt - 0x200000;
  auto r = arch::relocate_entry(*p, kAt, tramp, "f");
  ASSERT_TRUE(r.has_value()) << r.error().what();
  EXPECT_EQ(r->offset_map[0], 0);
  EXPECT_EQ(r->offset_map[2], 2);
  EXPECT_EQ(r->offset_map[4], 8) << "je rel8 became je rel32 (6 bytes)";
  EXPECT_EQ(r->offset_map[3], arch::kNoBoundary);
  EXPECT_EQ(target_of(r->bytes.data() + 2, r->bytes.size() - 2, tramp + 2), kAt + 8);
}

TEST(Relocate, FarTrampolineIsRefused) {
  std::vector<std::uint8_t> code{0x8b, 0x05, 0x10, 0, 0, 0, 0x01, 0xf8, 0xc3};
  auto p = plan(code);
  ASSERT_TRUE(p.has_value());
  auto r = arch::relocate_entry(*p, kAt, 0x7f0000000000, "f");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().what(), HasSubstr("cannot be relocated"));
}

TEST(JumpEncoding, Rel32AndSlotThunk) {
  auto j = arch::encode_jump_rel32(0x1000, 0x2000);
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)[0], 0xE9);
  EXPECT_EQ(target_of(j->data(), j->size(), 0x1000), 0x2000u);
  EXPECT_FALSE(arch::encode_jump_rel32(0x1000, 0x7f0000000000).has_value());
  auto t = arch::encode_slot_thunk(0x5000, 0x6000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(target_of(t->data(), t->size(), 0x5000), 0x6000u);
}

}  // namespace
