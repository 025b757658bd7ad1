#include "hotpatch/terminal_text.hpp"

#include <cstdint>

namespace hotpatch::cli {
namespace {

void escape(std::string& out, unsigned char byte) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[byte >> 4];
  out += hex[byte & 0xf];
}

// Length of the valid UTF-8 sequence starting at `at`, or 0. Overlong forms and surrogates are invalid.
std::size_t utf8_length(std::string_view s, std::size_t at) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[at + i]); };
  const unsigned char lead = b(0);
  std::size_t len = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
  if (len == 0 || at + len > s.size()) return 0;
  for (std::size_t i = 1; i < len; ++i)
    if ((b(i) & 0xc0) != 0x80) return 0;
  if (lead == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (lead == 0xed && b(1) >= 0xa0) return 0;  // surrogate
  if (lead == 0xf0 && b(1) < 0x90) return 0;   // overlong
  if (lead == 0xf4 && b(1) >= 0x90) return 0;  // above U+10FFFF
  return len;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) escape(out, c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t len = utf8_length(text, i);
    // U+0080..U+009F are C1 controls: some terminals read U+009B as the start of an escape sequence.
    const bool c1 = len == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (len == 0 || c1) {
      for (std::size_t k = 0; k < (len == 0 ? 1 : len); ++k) escape(out, static_cast<unsigned char>(text[i + k]));
      i += len == 0 ? 1 : len;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace hotpatch::cli
