/* The functions the demo prints from and patches: a C function, a C++ member function and a C++
 * virtual member function. */
#ifndef HOTPATCH_DEMO_GREETINGS_H
#define HOTPATCH_DEMO_GREETINGS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints "Hello, from C function! <n>". */
void say_hello_c(int n);

#ifdef __cplusplus
}

#include <string_view>

class DemoClass {
 public:
  /* Prints "Hello, from <from>! <n>". */
  void say_hello(int n, std::string_view from) const;
};

class Greeter {
 public:
  virtual ~Greeter() = default;
  /* Prints "Hello, from C++ virtual member function! <n>". */
  virtual void greet(int n) const;
};

/* Opaque to the optimiser, so greet() is really called through the vtable. */
Greeter* make_greeter();
#endif

#endif
