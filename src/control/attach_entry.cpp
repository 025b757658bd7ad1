// The entry `hotpatch attach` calls, through one borrowed thread, after it has made a process that
// was started without the runtime dlopen it. The trust policy arrives as the argument, not through
// the environment or a file: nothing anybody else could have planted is read, and what the operator
// chose is exactly what is used. The thread that runs this is the program's own, stopped where it
// holds no lock (hotpatch attach chooses it); this starts the endpoint and returns.
//
// Not a public API: the CLI and this file are its only parties. The text is lines of key=value:
//   allow_unsigned=0|1      trusted_key=<minisign public key line> (repeated)    log_file=<path>
#include <hotpatch/control.hpp>
#include <hotpatch/export.h>

#include <csignal>
#include <pthread.h>
#include <sstream>
#include <string>

namespace {

hotpatch::Result<hotpatch::ControlOptions> parse(const char* text) {
  hotpatch::ControlOptions o;
  std::istringstream in(text != nullptr ? text : "");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto eq = line.find('=');
    const std::string key = line.substr(0, eq);
    const std::string value = eq == std::string::npos ? std::string() : line.substr(eq + 1);
    if (key == "allow_unsigned" && (value == "0" || value == "1")) o.allow_unsigned = value == "1";
    else if (key == "trusted_key" && !value.empty()) o.trusted_keys.push_back(value);
    else if (key == "log_file" && !value.empty() && value.front() == '/') o.log_file = value;
    else return hotpatch::make_error(hotpatch::ErrorCode::invalid_argument, "attach configuration", "unusable line '" + line + "'");
  }
  return o;
}

}  // namespace

extern "C" HOTPATCH_API const char* hotpatch_attach_start(const char* config) {
  static std::string result;
  result.clear();
  try {
    auto options = parse(config);
    if (!options) {
      result = options.error().what();
      return result.c_str();
    }
    // The endpoint's threads inherit this mask: they block every asynchronous signal, so a signal
    // the program directs at the process is never taken by a thread of ours, and answer the
    // synchronous ones (the engine's int3 traps among them) as any code must.
    sigset_t mine, before;
    sigfillset(&mine);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS}) sigdelset(&mine, sig);
    pthread_sigmask(SIG_SETMASK, &mine, &before);
    auto started = hotpatch::enable_control(*options);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (!started) result = started.error().what();
  } catch (const std::exception& e) {
    result = e.what();
  }
  return result.c_str();
}
