#include "engine_test_support.hpp"

extern "C" int hp_capi_scenario(const char* good_patch, const char* missing_symbol_patch);

namespace {

using hptest::EngineTest;

TEST_F(EngineTest, CApiAppliesListsAndReverts) {
  const std::string good = hptest::patch_path("c_add_v1"), bad = hptest::patch_path("missing_symbol");
  EXPECT_EQ(hp_capi_scenario(good.c_str(), bad.c_str()), 0) << "the number is the C scenario's failed step";
}

}  // namespace
