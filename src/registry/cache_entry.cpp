#include "registry/cache_entry.hpp"

#include <cstdio>

namespace hotpatch::registry {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device node";
  return "not a regular file";
}

}  // namespace

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::optional<std::string> untrusted_entry_reason(const struct stat& st, uid_t euid) {
  if (!S_ISREG(st.st_mode)) return std::string("is ") + kind_of(st.st_mode) + ", not a regular file";
  if (st.st_uid != euid) {
    return "is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " + std::to_string(euid) + ")";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "is writable by group or others (mode " + octal_mode(st.st_mode) + ")";
  }
  return std::nullopt;
}

}  // namespace hotpatch::registry
