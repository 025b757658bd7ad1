#include "control/service.hpp"

#include "support/log.hpp"

#include <hotpatch/runtime.hpp>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

using json = nlohmann::ordered_json;

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string program_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  return raw.substr(0, 200);
}

json function_row(const PatchedFunction& f) {
  return {{"symbol", f.symbol},
          {"module", f.module},
          {"address", f.address},
          {"version", f.version},
          {"patch_id", f.patch_id},
          {"method", f.method == RedirectMethod::vtable_slot ? "vtable_slot" : "entry_jump"},
          {"since", iso_time(f.since)},
          {"stacked", f.stacked},
          {"unloaded", f.unloaded},
          {"reload_error", f.reload_error}};
}

std::string who(const PeerCredentials& p) { return "pid " + std::to_string(p.pid) + " uid " + std::to_string(p.uid); }

}  // namespace

ControlService::ControlService(std::shared_ptr<RegistryUpdater> registry, std::chrono::seconds poll_interval,
                               PatchTrust trust)
    : registry_(std::move(registry)),
      poll_interval_(poll_interval),
      started_(std::chrono::system_clock::now()),
      trust_(std::move(trust)) {}

Reply ControlService::handle(const Request& request, Fd passed_fd, const PeerCredentials& peer) {
  if (request.op != Op::apply && passed_fd.valid()) {
    return error_response(make_error(ErrorCode::protocol, op_name(request.op), "takes no attached file"));
  }
  switch (request.op) {
    case Op::hello: return hello();
    case Op::status: return status();
    case Op::apply: return apply(request, std::move(passed_fd), who(peer));
    case Op::revert: return revert(request, who(peer));
    case Op::update: return update(who(peer));
  }
  return error_response(make_error(ErrorCode::protocol, "request", "unknown op"));
}

Response ControlService::hello() const {
  auto patches = applied_patches();
  auto table = patch_table();
  json level = json::array();
  for (const auto& p : patches) level.push_back(p.manifest.id + "@" + std::to_string(p.manifest.version));
  // What the process can be patched for: a rollout to --all sends a patch only where its build is loaded.
  json build_ids = json::array();
  for (const auto& m : loaded_modules()) {
    if (!m.build_id.empty() && std::find(build_ids.begin(), build_ids.end(), m.build_id) == build_ids.end()) {
      build_ids.push_back(m.build_id);
    }
  }
  return ok_response({{"pid", ::getpid()},
                      {"uid", ::geteuid()},
                      {"program", program_path()},
                      {"command", command_line()},
                      {"protocol", protocol_version},
                      {"patches", patches.size()},
                      {"functions", table.size()},
                      {"patch_level", std::move(level)},
                      {"registry", registry_ ? registry_->first_url() : std::string()},
                      {"poll_seconds", poll_interval_.count()},
                      {"control_since", iso_time(started_)},
                      {"build_ids", std::move(build_ids)}});
}

Response ControlService::status() const {
  json patches = json::array();
  for (const auto& p : applied_patches()) {
    auto src = sources_.find(p.manifest.id);
    patches.push_back({{"id", p.manifest.id},
                       {"version", p.manifest.version},
                       {"about", p.manifest.about},
                       {"source", src != sources_.end() ? src->second : p.path},
                       {"applied_at", iso_time(p.applied_at)},
                       {"targets_unloaded", p.targets_unloaded}});
  }
  json functions = json::array();
  for (const auto& f : patch_table()) functions.push_back(function_row(f));
  auto stats = engine_stats();
  return ok_response({{"pid", ::getpid()},
                      {"patches", std::move(patches)},
                      {"functions", std::move(functions)},
                      {"stats", {{"applies", stats.applies}, {"reverts", stats.reverts}, {"refusals", stats.refusals}}}});
}

Response ControlService::apply(const Request& request, Fd fd, const std::string& peer) {
  const std::string source = request.source.empty() ? std::string("(unnamed)") : request.source;
  if (!fd.valid()) {
    return error_response(make_error(ErrorCode::protocol, "apply", "needs the patch file attached to the request"));
  }
  // The audit trail: every request is logged with who asked, what was sent and what came of it.
  auto admitted = admit_patch(fd.get(), source, {request.signature, request.allow_unsigned}, trust_);
  fd.reset();
  if (!admitted) {
    log::warning("control: apply of " + source + " requested by " + peer + " refused: " + admitted.error().what());
    return error_response(admitted.error());
  }
  const std::string sha = admitted->sha256;
  const std::string signer = admitted->signer.empty() ? std::string("unsigned") : "signed by key " + admitted->signer;
  auto applied = apply_patch_image(admitted->bytes, source);
  if (!applied) {
    log::warning("control: apply of " + source + " (sha256 " + sha + ", " + signer + ") requested by " + peer +
                 " refused: " + applied.error().what());
    return error_response(applied.error());
  }
  const auto& m = applied->manifest;
  sources_[m.id] = source;
  json functions = json::array();
  for (const auto& f : patch_table())
    if (f.patch_id == m.id) functions.push_back(function_row(f));
  log::info("control: applied " + m.id + " version " + std::to_string(m.version) + " from " + source + " (sha256 " +
            sha + ", " + signer + ") requested by " + peer);
  return ok_response({{"id", m.id},
                      {"version", m.version},
                      {"about", m.about},
                      {"target_module", m.target_module},
                      {"sha256", sha},
                      {"signed_by", admitted->signer},
                      {"functions", std::move(functions)}});
}

Response ControlService::revert(const Request& request, const std::string& peer) {
  std::vector<std::string> ids;
  if (request.all) {
    auto patches = applied_patches();
    for (auto it = patches.rbegin(); it != patches.rend(); ++it) ids.push_back(it->manifest.id);
  } else {
    ids.push_back(request.patch_id);
  }
  json reverted = json::array();
  for (const auto& id : ids) {
    std::string sha = "unknown";
    for (const auto& p : applied_patches())
      if (p.manifest.id == id) sha = p.sha256;  // the newest with this id is the one reverted
    if (auto s = revert_patch(id); !s) {
      log::debug("control: revert of " + id + " requested by " + peer + " refused: " + s.error().what());
      Error e = s.error();
      if (!reverted.empty()) e.message += " (already reverted: " + reverted.dump() + ")";
      return error_response(std::move(e));
    }
    sources_.erase(id);
    reverted.push_back(id);
    log::info("control: reverted " + id + " (sha256 " + sha + ") requested by " + peer);
  }
  return ok_response({{"reverted", std::move(reverted)}});
}

Reply ControlService::update(const std::string& peer) {
  if (!registry_) {
    return error_response(make_error(ErrorCode::invalid_argument, "update",
                                     "this process has no registry configured (start it with "
                                     "HOTPATCH_REGISTRY_URL, HOTPATCH_REGISTRY_NAME and HOTPATCH_TRUSTED_KEY)"));
  }
  if (updating_.exchange(true)) {
    return error_response(make_error(ErrorCode::invalid_argument, "update",
                                     "an update is already running; try again when it has answered"));
  }
  // The service outlives the endpoint's worker (enable.cpp stops the endpoint first).
  return Reply::deferred([this, peer] {
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag.store(false); }
    } done{updating_};
    return run_update(peer);
  });
}

Response ControlService::run_update(const std::string& peer) {
  auto outcome = registry_->run_once("control request from " + peer);
  if (!outcome) return error_response(outcome.error());
  json applied = json::array();
  for (const auto& p : outcome->apply.applied) applied.push_back({{"id", p.id}, {"version", p.version}});
  json failed = json::array();
  for (const auto& f : outcome->apply.failed) {
    failed.push_back({{"id", f.patch.id},
                      {"version", f.patch.version},
                      {"code", error_code_name(f.error.code)},
                      {"error", f.error.what()}});
  }
  json held_back = json::array();
  for (const auto& h : outcome->apply.held_back)
    held_back.push_back({{"id", h.patch.id}, {"version", h.patch.version}, {"error", h.error.what()}});
  const auto& u = outcome->update;
  return ok_response({{"index_version", u.index_version},
                      {"changed", u.changed},
                      {"source", u.source},
                      {"unreachable", u.unreachable ? u.unreachable->what() : std::string()},
                      {"applied", std::move(applied)},
                      {"failed", std::move(failed)},
                      {"held_back", std::move(held_back)}});
}

}  // namespace hotpatch::control
