#include "agent/agent_config.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::agent {
namespace {

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

Result<std::chrono::seconds> seconds_value(const std::string& where, const std::string& v, long min, long max) {
  long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || end != v.data() + v.size() || n < min || n > max) {
    return make_error(ErrorCode::parse, where,
                      "'" + v + "' is not a whole number of seconds from " + std::to_string(min) + " to " +
                          std::to_string(max));
  }
  return std::chrono::seconds(n);
}

// Words separated by spaces or commas: "users = root, www-data".
std::vector<std::string> words(const std::string& v) {
  std::vector<std::string> out;
  std::string w;
  std::istringstream in(v);
  while (std::getline(in, w, ',')) {
    std::istringstream parts(w);
    for (std::string p; parts >> p;) out.push_back(p);
  }
  return out;
}

}  // namespace

Status read_config_file(const std::string& path, AgentConfig& c) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::io, path, std::string("cannot be read: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::invalid_argument, path, "is not a regular file");
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, path,
                      "is owned by uid " + std::to_string(st.st_uid) +
                          ", not by root or the agent's user: its owner would choose what every process accepts");
  }
  if (st.st_mode & 022) {
    return make_error(ErrorCode::permission, path,
                      "is writable by group or others: whoever can write it would choose what every process accepts");
  }
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::io, path, "cannot be opened");
  // Lists given in the file replace the defaults, and several lines of one key add up.
  bool seen_registry = false, seen_pubkey = false, seen_user = false, seen_program = false;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const std::string where = path + ":" + std::to_string(n);
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) return make_error(ErrorCode::parse, where, "is not a 'key = value' line");
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    auto add = [&](bool& seen, std::vector<std::string>& list) {
      if (!seen) list.clear();
      seen = true;
      for (auto& w : words(value)) list.push_back(w);
    };
    if (key == "registry") {
      add(seen_registry, c.registries);
    } else if (key == "name") {
      c.registry_name = value;
    } else if (key == "pubkey") {
      add(seen_pubkey, c.pubkeys);
    } else if (key == "host_id") {
      c.host_id = value;
    } else if (key == "state_dir") {
      c.state_dir = value;
    } else if (key == "interval") {
      HOTPATCH_LET(s, seconds_value(where, value, 1, 7 * 86400));
      c.interval = s;
    } else if (key == "scan_interval") {
      HOTPATCH_LET(s, seconds_value(where, value, 1, 3600));
      c.scan_interval = s;
    } else if (key == "users") {
      add(seen_user, c.users);
    } else if (key == "programs") {
      add(seen_program, c.programs);
    } else if (key == "health_seconds") {
      HOTPATCH_LET(s, seconds_value(where, value, 0, 86400));
      c.health_seconds = s;
    } else if (key == "health_interval") {
      HOTPATCH_LET(s, seconds_value(where, value, 1, 3600));
      c.health_interval = s;
    } else if (key == "health_command") {
      c.health_command = value;
    } else if (key == "health_timeout") {
      HOTPATCH_LET(s, seconds_value(where, value, 1, 3600));
      c.health_timeout = s;
    } else if (key == "runtime") {
      c.runtime = value;
    } else if (key == "attach_wait_ms") {
      HOTPATCH_LET(s, seconds_value(where, value, 1, 600'000));
      c.attach_wait = std::chrono::milliseconds(s.count());
    } else {
      return make_error(ErrorCode::parse, where,
                        "unknown key '" + key +
                            "' (known: registry, name, pubkey, host_id, state_dir, interval, scan_interval, users, "
                            "programs, health_seconds, health_interval, health_command, health_timeout, runtime, "
                            "attach_wait_ms)");
    }
  }
  return {};
}

Status check_config(const AgentConfig& c) {
  auto bad = [](const char* what, const std::string& why) { return make_error(ErrorCode::invalid_argument, what, why); };
  if (c.registries.empty()) return bad("agent", "no registry: give --registry URL or 'registry =' in the configuration");
  if (c.registry_name.empty()) return bad("agent", "no registry name: give --name NAME or 'name =' in the configuration");
  if (c.pubkeys.empty()) {
    return bad("agent", "no registry key: give --pubkey FILE or 'pubkey =' in the configuration (the agent pins it "
                        "and so does every process it attaches to)");
  }
  if (c.state_dir.empty() || c.state_dir.front() != '/') {
    return bad("state_dir", "'" + c.state_dir + "' must be an absolute path");
  }
  for (const auto& p : c.programs) {
    if (p.empty() || p.front() != '/') return bad("programs", "'" + p + "' must be an absolute path");
  }
  return {};
}

Result<std::vector<uid_t>> configured_uids(const AgentConfig& c) {
  std::vector<uid_t> uids;
  for (const auto& u : c.users) {
    uid_t id = 0;
    auto [end, ec] = std::from_chars(u.data(), u.data() + u.size(), id);
    if (ec == std::errc{} && end == u.data() + u.size()) {
      uids.push_back(id);
      continue;
    }
    const passwd* pw = ::getpwnam(u.c_str());
    if (pw == nullptr) return make_error(ErrorCode::invalid_argument, "users", "no user named '" + u + "'");
    uids.push_back(pw->pw_uid);
  }
  return uids;
}

}  // namespace hotpatch::agent
