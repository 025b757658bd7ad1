// Whether a file found in the client's cache may be trusted. The cache may once have been open to
// other users (a directory created with a wide mode before the client made it private), so what
// it holds is judged by what the file is and who owns it, never by its name alone.
#pragma once

#include <optional>
#include <string>
#include <sys/stat.h>

namespace hotpatch::registry {

/// Why the file described by `st` (from lstat/fstat, never following a link) cannot be trusted as
/// a cache entry of user `euid`, or nullopt when it can: a regular file `euid` owns that neither
/// group nor others may write.
std::optional<std::string> untrusted_entry_reason(const struct stat& st, uid_t euid);

/// "0755": permission bits as chmod takes them, for messages.
std::string octal_mode(mode_t mode);

}  // namespace hotpatch::registry
