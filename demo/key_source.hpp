// Where the demo's keys come from: a list given with --keys, a terminal (single keys, no Enter),
// or a pipe.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace demo {

class KeySource {
 public:
  /// Keys from `scripted` when it is set, otherwise from stdin (raw mode when it is a terminal).
  explicit KeySource(std::optional<std::string> scripted);
  ~KeySource();
  KeySource(const KeySource&) = delete;
  KeySource& operator=(const KeySource&) = delete;

  /// Waits up to `timeout` for a key. nullopt: no key yet. '\0': no more keys will come.
  std::optional<char> next(std::chrono::milliseconds timeout);

 private:
  std::optional<std::string> scripted_;
  std::size_t position_ = 0;
  bool raw_terminal_ = false;
  bool ended_ = false;
  struct TerminalState;
  TerminalState* saved_ = nullptr;
};

}  // namespace demo
