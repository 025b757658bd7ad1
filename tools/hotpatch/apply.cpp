// hotpatch apply: verify a local patch file and have a running process apply it. The verified bytes
// travel as a sealed memory file over the socket, so what the process loads is exactly what was
// verified, even when the process could not read the operator's file itself.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include "control/protocol.hpp"
#include "registry/cache_dir.hpp"

#include <hotpatch/runtime.hpp>

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <span>

namespace hotpatch::cli {
namespace {

constexpr std::size_t max_patch_bytes = 64 * 1024 * 1024;

struct ApplyOptions {
  TargetOptions target;
  std::string patch;
  std::vector<std::string> pubkeys;
  std::string signature;
  bool allow_unsigned = false;
};

// The process decides; checking here too turns the common mistakes (no signature, wrong key,
// tampered file) into an error before anything is sent.
Status verify_signature(const ApplyOptions& o, const std::string& data, const std::string& sig_path,
                        const std::string& text) {
  HOTPATCH_LET(keys, load_public_keys(o.pubkeys));
  HOTPATCH_LET(sig, registry::minisign::parse_signature(text));
  HOTPATCH_LET(signer, registry::minisign::find_signer(sig, keys));
  auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  if (auto s = registry::minisign::verify_data(sig, signer, bytes); !s) {
    return make_error(ErrorCode::signature, o.patch, "signature " + sig_path + " does not match: " + s.error().message);
  }
  HOTPATCH_TRY(registry::minisign::verify_trusted_comment(sig, signer));
  return {};
}

int run_apply(const ApplyOptions& o) {
  if (o.allow_unsigned && (!o.pubkeys.empty() || !o.signature.empty())) {
    return report(make_error(ErrorCode::invalid_argument, "apply",
                             "--allow-unsigned sends no signature; it excludes --pubkey and --signature"));
  }
  auto data = registry::read_file(o.patch, max_patch_bytes);
  if (!data) return report(data.error());
  // Read what the patch is before anything is sent: a file that is not a patch stops here.
  auto manifest = read_patch_manifest(o.patch);
  if (!manifest) return report(manifest.error());
  std::string signature;
  if (!o.allow_unsigned) {
    const std::string sig_path = o.signature.empty() ? o.patch + ".minisig" : o.signature;
    auto text = registry::read_file(sig_path, control::max_signature_bytes);
    if (!text) {
      return report(make_error(ErrorCode::signature, o.patch,
                               "has no readable signature " + sig_path +
                                   " (sign it with `hotpatch sign --key KEY " + o.patch +
                                   "`; --allow-unsigned works only against a process started with "
                                   "HOTPATCH_ALLOW_UNSIGNED=1)"));
    }
    if (!o.pubkeys.empty()) {
      if (auto s = verify_signature(o, *data, sig_path, *text); !s) return report(s.error());
    }
    signature = std::move(*text);
  }
  auto fd = control::sealed_copy(std::filesystem::path(o.patch).filename().string(), *data);
  if (!fd) return report(fd.error());
  control::Request r;
  r.op = control::Op::apply;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(o.patch, ec);
  r.source = ec ? o.patch : absolute.string();
  r.signature = std::move(signature);
  r.allow_unsigned = o.allow_unsigned;
  int rc = run_on_targets(
      o.target, r, *fd,
      [](const Target& t, const nlohmann::ordered_json& res) {
        std::string functions;
        for (const auto& f : items(res, "functions")) functions += (functions.empty() ? "" : ", ") + cell(field(f, "symbol"));
        fmt::print("process {}: applied {} version {} ({})\n", t.pid, cell(field(res, "id")),
                   cell(field(res, "version")), functions);
      },
      {}, manifest->target_build_id);
  ::close(*fd);
  return rc;
}

}  // namespace

void add_apply(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<ApplyOptions>();
  auto* cmd = app.add_subcommand("apply", "Verify a patch file and apply it to a running process");
  o->target.add_to(*cmd, true, true);
  cmd->add_option("patch", o->patch, "Patch object (.so); its signature is PATCH.so.minisig")->required();
  cmd->add_option("--pubkey", o->pubkeys,
                  "Check the signature here first against this key (.pub file or base64 line; repeatable); the "
                  "process checks it against the keys it pins either way");
  cmd->add_option("--signature", o->signature, "Detached minisign signature (default: PATCH.so.minisig)");
  cmd->add_flag("--allow-unsigned", o->allow_unsigned,
                "Send no signature (development only: works only against a process started with "
                "HOTPATCH_ALLOW_UNSIGNED=1)");
  cmd->callback([o, &run] { run = [o] { return run_apply(*o); }; });
}

}  // namespace hotpatch::cli
