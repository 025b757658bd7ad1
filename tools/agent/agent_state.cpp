#include "agent/agent_state.hpp"

#include "registry/timestamp.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::agent {
namespace {

using json = nlohmann::ordered_json;
constexpr std::size_t kMaxStateBytes = 16 * 1024 * 1024;

Status check_directory(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return make_error(ErrorCode::io, dir, std::string("cannot be read: ") + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return make_error(ErrorCode::permission, dir, "is not a directory (a symbolic link is refused)");
  if (st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, dir,
                      "is owned by uid " + std::to_string(st.st_uid) + ", not by the agent's user: its owner could "
                      "rewrite what the agent remembers");
  }
  if (st.st_mode & 022) return make_error(ErrorCode::permission, dir, "is writable by group or others");
  return {};
}

}  // namespace

const TakenBack* AgentState::taken_back_for(const std::string& id, std::uint32_t version) const {
  for (const auto& t : taken_back)
    if (t.id == id && t.version == version) return &t;
  return nullptr;
}

std::string utc(std::int64_t s) {
  return registry::format_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(s)));
}

Result<StateStore> StateStore::open(const std::string& dir) {
  HOTPATCH_TRY(registry::make_directories(dir, 0700));
  HOTPATCH_TRY(check_directory(dir));
  HOTPATCH_LET(files, registry::CacheDir::open(dir + "/state"));
  return StateStore(dir, std::move(files));
}

Result<AgentState> StateStore::read_only(const std::string& dir) {
  const std::string path = dir + "/state/state.json";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return make_error(ErrorCode::io, path, "does not exist: the agent has not made a pass with this state directory");
  }
  HOTPATCH_LET(text, registry::read_file(path, kMaxStateBytes));
  return state_from_json(text, path);
}

Result<AgentState> StateStore::load() {
  HOTPATCH_LET(text, files_.read("state.json", kMaxStateBytes));
  if (!text) return AgentState{};
  return state_from_json(*text, files_.file("state.json"));
}

Status StateStore::save(const AgentState& state) const { return files_.write("state.json", state_to_json(state) + "\n"); }

std::string state_to_json(const AgentState& s, int indent) {
  json out;
  out["host_id"] = s.host_id;
  out["registry"] = s.registry;
  out["index_version"] = s.index_version;
  out["last_pass"] = s.last_pass;
  out["patched"] = json::array();
  for (const auto& p : s.patched) {
    out["patched"].push_back({{"pid", p.pid},
                              {"start_time", p.start_time},
                              {"program", p.program},
                              {"id", p.id},
                              {"version", p.version},
                              {"applied_at", p.applied_at},
                              {"watch_until", p.watch_until},
                              {"next_check", p.next_check},
                              {"healthy", p.healthy},
                              {"attached", p.attached}});
  }
  out["taken_back"] = json::array();
  for (const auto& t : s.taken_back) {
    out["taken_back"].push_back({{"id", t.id},
                                 {"version", t.version},
                                 {"pid", t.pid},
                                 {"program", t.program},
                                 {"reason", t.reason},
                                 {"at", t.at}});
  }
  out["first_taken"] = json::object();
  for (const auto& [k, v] : s.first_taken) out["first_taken"][k] = v;
  return out.dump(indent);
}

Result<AgentState> state_from_json(const std::string& text, const std::string& where) {
  try {
    const json in = json::parse(text);
    AgentState s;
    s.host_id = in.value("host_id", "");
    s.registry = in.value("registry", "");
    s.index_version = in.value("index_version", std::uint64_t{0});
    s.last_pass = in.value("last_pass", std::int64_t{0});
    for (const auto& p : in.at("patched")) {
      PatchedProcess r;
      r.pid = p.at("pid").get<pid_t>();
      r.start_time = p.at("start_time").get<std::uint64_t>();
      r.program = p.at("program").get<std::string>();
      r.id = p.at("id").get<std::string>();
      r.version = p.at("version").get<std::uint32_t>();
      r.applied_at = p.at("applied_at").get<std::int64_t>();
      r.watch_until = p.at("watch_until").get<std::int64_t>();
      r.next_check = p.value("next_check", std::int64_t{0});
      r.healthy = p.at("healthy").get<bool>();
      r.attached = p.value("attached", false);
      s.patched.push_back(std::move(r));
    }
    for (const auto& t : in.at("taken_back")) {
      TakenBack r;
      r.id = t.at("id").get<std::string>();
      r.version = t.at("version").get<std::uint32_t>();
      r.pid = t.at("pid").get<pid_t>();
      r.program = t.value("program", "");
      r.reason = t.at("reason").get<std::string>();
      r.at = t.at("at").get<std::int64_t>();
      s.taken_back.push_back(std::move(r));
    }
    for (const auto& [k, v] : in.at("first_taken").items()) s.first_taken[k] = v.get<std::int64_t>();
    return s;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::parse, where,
                      std::string("is damaged (") + e.what() +
                          "); remove it to start over, which forgets the patch versions taken back on this host");
  }
}

}  // namespace hotpatch::agent
