// Version 1 of the demo fix: all three greetings say the program is patched.
#include "../greetings.h"

#include <hotpatch/patch.hpp>

#include <cstdio>

static void say_hello_c_fixed(int n) { std::printf("Completely patched! from C function! %d\n", n); }

static void say_hello_member_fixed(const DemoClass*, int n, std::string_view from) {
  std::printf("Completely patched! from %.*s! %d\n", static_cast<int>(from.size()), from.data(), n);
}

static void greet_fixed(const Greeter*, int n) { std::printf("Completely patched! from C++ virtual member function! %d\n", n); }

HOTPATCH_REPLACE_C(say_hello_c, say_hello_c_fixed);
HOTPATCH_REPLACE("DemoClass::say_hello(int, std::basic_string_view<char, std::char_traits<char> >) const",
                 say_hello_member_fixed);
HOTPATCH_REPLACE("Greeter::greet(int) const", greet_fixed);
