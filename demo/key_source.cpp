#include "key_source.hpp"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

namespace demo {

struct KeySource::TerminalState {
  termios attributes;
};

KeySource::KeySource(std::optional<std::string> scripted) : scripted_(std::move(scripted)) {
  if (scripted_ || !isatty(STDIN_FILENO)) return;
  saved_ = new TerminalState;
  if (tcgetattr(STDIN_FILENO, &saved_->attributes) != 0) return;
  termios raw = saved_->attributes;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  raw_terminal_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

KeySource::~KeySource() {
  if (raw_terminal_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_->attributes);
  delete saved_;
}

std::optional<char> KeySource::next(std::chrono::milliseconds timeout) {
  if (scripted_) {
    // One scripted key per tick, so the greetings print between keys as they would for a person.
    if (position_ >= scripted_->size()) return '\0';
    return (*scripted_)[position_++];
  }
  if (ended_) return '\0';
  pollfd pfd{STDIN_FILENO, POLLIN, 0};
  const int ready = poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return std::nullopt;
  char c = 0;
  const ssize_t n = read(STDIN_FILENO, &c, 1);
  if (n <= 0) {
    ended_ = true;
    return '\0';
  }
  return c;
}

}  // namespace demo
