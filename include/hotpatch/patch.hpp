// C++ spelling of the patch-authoring header; the macros are the same as in patch.h.
#pragma once
#include <hotpatch/patch.h>
