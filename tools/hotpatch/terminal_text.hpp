// Text from a running process (its command line, paths, symbols, error sentences) reaches an
// operator's terminal, often root's. Escape sequences in it could move the cursor, rewrite earlier
// lines or worse, so human output shows such bytes as \xNN instead of sending them.
#pragma once

#include <string>
#include <string_view>

namespace hotpatch::cli {

/// `text` with control characters (below 0x20, 0x7f, and the C1 range U+0080..U+009F) and bytes
/// that are not valid UTF-8 written as \xNN; printable text, tabs excepted, is unchanged.
std::string printable(std::string_view text);

}  // namespace hotpatch::cli
