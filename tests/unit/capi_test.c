/* The C API from a C99 translation unit. Returns 0 when every check holds, else the failed step. */
#include <hotpatch/hotpatch.h>

#include <string.h>

#include "targets.h"

int hp_capi_scenario(const char* good_patch, const char* missing_symbol_patch) {
  hotpatch_function rows[4];
  if (hotpatch_apply(good_patch) != HOTPATCH_OK) return 1;
  if (strcmp(hotpatch_last_error(), "") != 0) return 2;
  if (hp_c_add(1) != 101) return 3;
  if (hotpatch_table(rows, 4) != 1) return 4;
  if (strcmp(rows[0].symbol, "hp_c_add") != 0 || rows[0].version != 1 || strcmp(rows[0].patch_id, "c-add") != 0) return 5;
  if (rows[0].vtable_slot != 0 || rows[0].since_unix_ms <= 0) return 6;
  if (hotpatch_apply(missing_symbol_patch) != HOTPATCH_E_SYMBOL_NOT_FOUND) return 7;
  if (strstr(hotpatch_last_error(), "hp_does_not_exist") == NULL) return 8;
  if (strcmp(hotpatch_status_name(HOTPATCH_E_SYMBOL_NOT_FOUND), "symbol_not_found") != 0) return 9;
  if (hotpatch_revert("c-add") != HOTPATCH_OK) return 10;
  if (hp_c_add(1) != 2) return 11;
  if (hotpatch_revert("c-add") != HOTPATCH_E_NOT_APPLIED) return 12;
  if (hotpatch_apply(NULL) != HOTPATCH_E_INVALID_ARGUMENT) return 13;
  if (hotpatch_table(NULL, 0) != 0) return 14;
  return 0;
}
