#include "greetings.h"

#include <hotpatch/patch.hpp>

#include <cstdio>

HOTPATCH_PATCHABLE void DemoClass::say_hello(int n, std::string_view from) const {
  std::printf("Hello, from %.*s! %d\n", static_cast<int>(from.size()), from.data(), n);
}

HOTPATCH_PATCHABLE void Greeter::greet(int n) const { std::printf("Hello, from C++ virtual member function! %d\n", n); }

HOTPATCH_PATCHABLE Greeter* make_greeter() { return new Greeter; }
