#include "hotpatch/common.hpp"

#include "hotpatch/terminal_text.hpp"
#include "registry/cache_dir.hpp"

#include <fmt/core.h>

#include <filesystem>

namespace hotpatch::cli {

int report(const Error& error) {
  // Subjects and sentences may come from a running process's answer.
  fmt::print(stderr, "hotpatch: {} [{}]\n", printable(error.what()), error_code_name(error.code));
  return error.code == ErrorCode::invalid_argument ? exit_usage : exit_refused;
}

Result<std::vector<registry::minisign::PublicKey>> load_public_keys(const std::vector<std::string>& args) {
  std::vector<registry::minisign::PublicKey> keys;
  for (const auto& arg : args) {
    std::string text = arg;
    std::error_code ec;
    if (std::filesystem::is_regular_file(arg, ec)) {
      HOTPATCH_LET(content, registry::read_file(arg, 4096));
      text = std::move(content);
    }
    auto key = registry::minisign::parse_public_key(text);
    if (!key) return make_error(ErrorCode::invalid_argument, arg, "is neither a public key file nor a key line");
    keys.push_back(*key);
  }
  return keys;
}

int parse_and_run(CLI::App& app, int argc, char** argv, const Subcommand& run) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  return run ? run() : exit_usage;
}

}  // namespace hotpatch::cli
