// hotpatch keygen: a new Ed25519 signing key in minisign's unencrypted format, so `minisign -S -s`
// can use it too.
#include "hotpatch/common.hpp"

#include "registry/cache_dir.hpp"

#include <fmt/core.h>

#include <filesystem>

namespace hotpatch::cli {
namespace {

struct KeygenOptions {
  std::string secret_key = "hotpatch.key";
  std::string public_key = "hotpatch.pub";
  bool force = false;
};

int run_keygen(const KeygenOptions& o) {
  std::error_code ec;
  for (const auto& path : {o.secret_key, o.public_key}) {
    if (!o.force && std::filesystem::exists(path, ec)) {
      return report(make_error(ErrorCode::invalid_argument, path, "already exists; pass --force to replace it"));
    }
  }
  auto sk = registry::minisign::generate_secret_key();
  auto pk = sk.public_key();
  // The secret key is written private from its first byte (the temporary file is created 0600).
  if (auto s = registry::write_file_atomic(o.secret_key, registry::minisign::format_secret_key(sk), 0600); !s) {
    return report(s.error());
  }
  if (auto s = registry::write_file_atomic(o.public_key, registry::minisign::format_public_key(pk), 0644); !s) {
    return report(s.error());
  }
  fmt::print("key id {}\nsecret key: {} (unencrypted; keep it private)\npublic key: {}\n{}\n",
             registry::minisign::key_id_text(pk.id), o.secret_key, o.public_key,
             registry::minisign::public_key_line(pk));
  return exit_ok;
}

}  // namespace

void add_keygen(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<KeygenOptions>();
  auto* cmd = app.add_subcommand("keygen", "Make a signing key pair (minisign format, also usable with minisign)");
  cmd->add_option("-s,--secret-key", o->secret_key, "Where to write the secret key")->capture_default_str();
  cmd->add_option("-p,--public-key", o->public_key, "Where to write the public key")->capture_default_str();
  cmd->add_flag("-f,--force", o->force, "Replace existing key files");
  cmd->callback([o, &run] { run = [o] { return run_keygen(*o); }; });
}

}  // namespace hotpatch::cli
