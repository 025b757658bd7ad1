// hotpatch sign: a detached minisign signature (FILE.minisig) for a patch object, so signing and
// applying need one tool. The output is what `minisign -Sm FILE` writes and `minisign -Vm` checks.
#include "hotpatch/common.hpp"

#include "registry/cache_dir.hpp"

#include <hotpatch/runtime.hpp>

#include <fmt/core.h>

#include <ctime>
#include <filesystem>
#include <span>

namespace hotpatch::cli {
namespace {

constexpr std::size_t max_patch_bytes = 256 * 1024 * 1024;

struct SignOptions {
  std::string key_file;
  std::string file;
  std::string output;
  std::string trusted_comment;
};

int run_sign(const SignOptions& o) {
  auto key_text = registry::read_file(o.key_file, 4096);
  if (!key_text) return report(key_text.error());
  auto key = registry::minisign::parse_secret_key(*key_text);
  if (!key) return report(make_error(key.error().code, o.key_file, key.error().message));
  // Signing something that is not a patch is almost always the wrong file.
  auto manifest = read_patch_manifest(o.file);
  if (!manifest) return report(manifest.error());
  auto data = registry::read_file(o.file, max_patch_bytes);
  if (!data) return report(data.error());
  const std::string name = std::filesystem::path(o.file).filename().string();
  std::string comment = o.trusted_comment;
  if (comment.empty()) {
    // minisign's own default, so both tools show the same thing.
    comment = "timestamp:" + std::to_string(std::time(nullptr)) + "\tfile:" + name + "\thashed";
  }
  if (comment.find('\n') != std::string::npos || comment.find('\r') != std::string::npos) {
    return report(make_error(ErrorCode::invalid_argument, "--trusted-comment", "must be one line"));
  }
  auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(data->data()), data->size());
  auto sig = registry::minisign::sign(*key, bytes, comment, "signature from hotpatch secret key");
  const std::string out = o.output.empty() ? o.file + ".minisig" : o.output;
  if (auto s = registry::write_file_atomic(out, registry::minisign::format_signature(sig), 0644); !s) {
    return report(s.error());
  }
  fmt::print("signed {} ({} version {}) with key {}: {}\n", o.file, manifest->id, manifest->version,
             registry::minisign::key_id_text(key->public_key().id), out);
  return exit_ok;
}

}  // namespace

void add_sign(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<SignOptions>();
  auto* cmd = app.add_subcommand("sign", "Sign a patch object: writes FILE.minisig (minisign format)");
  cmd->add_option("--key", o->key_file, "Unencrypted secret key (hotpatch keygen or minisign -G -W)")->required();
  cmd->add_option("file", o->file, "Patch object to sign")->required();
  cmd->add_option("-o,--output", o->output, "Where to write the signature (default: FILE.minisig)");
  cmd->add_option("-t,--trusted-comment", o->trusted_comment,
                  "Signed comment (default: timestamp, file name, as minisign writes it)");
  cmd->callback([o, &run] { run = [o] { return run_sign(*o); }; });
}

}  // namespace hotpatch::cli
