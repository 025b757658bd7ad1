// Version 2 of the demo fix: replaces version 1 in a running program.
#include "../greetings.h"

#include <hotpatch/patch.hpp>

#include <cstdio>

static void say_hello_c_v2(int n) { std::printf("Completely patched (v2)! from C function! %d\n", n); }

static void say_hello_member_v2(const DemoClass*, int n, std::string_view from) {
  std::printf("Completely patched (v2)! from %.*s! %d\n", static_cast<int>(from.size()), from.data(), n);
}

static void greet_v2(const Greeter*, int n) { std::printf("Completely patched (v2)! from C++ virtual member function! %d\n", n); }

HOTPATCH_REPLACE_C(say_hello_c, say_hello_c_v2);
HOTPATCH_REPLACE("DemoClass::say_hello(int, std::basic_string_view<char, std::char_traits<char> >) const",
                 say_hello_member_v2);
HOTPATCH_REPLACE("Greeter::greet(int) const", greet_v2);
