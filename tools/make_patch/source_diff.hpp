// The fix as the user gives it: unified diffs (-p1, as `git diff` writes them) applied to the
// patched copy of the tree with patch(1).
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <vector>

namespace hotpatch::make_patch {

/// The files a diff touches, relative to the tree's root (-p1: the first path component dropped),
/// sorted, each once. Both sides of a rename; nothing for /dev/null.
std::vector<std::string> touched_files(const std::string& diff_text);

/// Applies each diff in order to `tree` with `patch -p1 --batch --forward`, each checked with
/// --dry-run first so that a diff that does not apply leaves no half-applied files behind. The
/// error for a diff that does not apply carries patch's own output verbatim.
Status apply_diffs(const std::string& tree, const std::vector<std::string>& diff_paths);

}  // namespace hotpatch::make_patch
