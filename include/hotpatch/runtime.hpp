// The hotpatch runtime: apply patch objects to the running process, revert them, read the patch table.
// All calls are thread-safe (one engine per process, serialised internally) and never throw.
#pragma once

#include <hotpatch/error.hpp>
#include <hotpatch/log.hpp>
#include <hotpatch/manifest.hpp>
#include <hotpatch/module.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch {

/// How a function's calls are redirected.
enum class RedirectMethod { entry_jump, vtable_slot };

/// One row of the patch table: a function that is patched now.
struct PatchedFunction {
  std::string symbol;        ///< the symbol as found in the target (mangled)
  std::string module;        ///< file name of the module that holds it
  std::uintptr_t address = 0;
  std::uint32_t version = 0;     ///< version of the patch active for it
  std::string patch_id;          ///< patch active for it
  RedirectMethod method = RedirectMethod::entry_jump;
  std::chrono::system_clock::time_point since;  ///< when that version became active
  std::size_t stacked = 0;       ///< how many older patch versions lie below the active one
  bool unloaded = false;         ///< its module was unloaded: nothing is written for it; revert cancels it
  std::string reload_error;      ///< its module was loaded again but the patch could not follow it: why
};

/// A patch that is applied now.
struct AppliedPatch {
  PatchManifest manifest;
  std::string path;
  std::string sha256;  ///< of the patch object's bytes as loaded (lower-case hex)
  std::chrono::system_clock::time_point applied_at;
  /// Every function it replaces is in a module that was unloaded. Its object stays loaded (a thread
  /// may still be running its code); it follows the module if that is loaded again.
  bool targets_unloaded = false;
};

struct ApplyOptions {
  /// How long every other thread has to answer the safety check before the apply fails cleanly.
  std::chrono::milliseconds thread_timeout{500};
  /// When set, the patch must declare exactly this id (for example the one a signed registry
  /// index names for the blob); any other id is refused before anything is loaded.
  std::optional<std::string> expect_id;
  /// When set, the patch must declare exactly this version.
  std::optional<std::uint32_t> expect_version;
  /// For a patch that asks for the stack check (HOTPATCH_CONSISTENCY(stack)): how long to keep
  /// looking for a moment when no thread is inside a function it replaces, before refusing.
  std::chrono::milliseconds consistency_timeout{10000};
};

/// Applies a patch file as one transaction: every target is resolved and checked first, then all are
/// written; on any failure nothing stays changed and the error says what and why.
HOTPATCH_API Result<AppliedPatch> apply_patch_file(const std::string& path, const ApplyOptions& options = {});

/// Applies a patch object held in memory: exactly these bytes are checked and loaded (nothing is
/// read again from a file that could change meanwhile). `name` stands for the patch in messages and
/// in applied_patches(); the caller verifies the bytes (signature, registry hash) before the call.
HOTPATCH_API Result<AppliedPatch> apply_patch_image(std::span<const std::uint8_t> bytes, const std::string& name,
                                                    const ApplyOptions& options = {});

/// Reverts an applied patch by id: each of its functions goes back to the version below it (or to
/// the original bytes, byte for byte).
HOTPATCH_API Status revert_patch(std::string_view patch_id, const ApplyOptions& options = {});

/// The patch table: one row per patched function.
HOTPATCH_API std::vector<PatchedFunction> patch_table();

/// Applied patches, oldest first.
HOTPATCH_API std::vector<AppliedPatch> applied_patches();

/// Counters the engine keeps, for tests, benchmarks and status output.
struct EngineStats {
  std::uint64_t applies = 0;            ///< successful apply transactions
  std::uint64_t reverts = 0;            ///< successful revert transactions
  std::uint64_t refusals = 0;           ///< transactions refused with an error
  std::uint64_t code_writes = 0;        ///< function entries rewritten
  std::uint64_t slot_writes = 0;        ///< pointer slots rewritten (version switches, vtables)
  std::uint64_t safety_rounds = 0;      ///< signal rounds over all threads
  std::uint64_t threads_relocated = 0;  ///< threads moved out of bytes being overwritten
  std::uint64_t trap_redirects = 0;     ///< callers caught by the temporary int3 and sent on
  std::uint64_t threads_held = 0;       ///< threads stopped for a write (they block SIGTRAP or the check signal)
  // Where successful transactions spent their time (nanoseconds, summed), for the benchmarks.
  std::uint64_t resolve_ns = 0;  ///< apply: reading the manifest, resolving and checking every target
  std::uint64_t load_ns = 0;     ///< apply: dlopen and binding replacements and imports
  std::uint64_t write_ns = 0;    ///< apply and revert: building redirects, writing code and pointers
  // Appended last, so the fields above keep their places for programs built against older headers.
  std::uint64_t pad_writes = 0;  ///< of code_writes, those through a compiler-placed entry pad (no trap, no thread round)
};
HOTPATCH_API EngineStats engine_stats();

}  // namespace hotpatch
