// Compiles with nothing before it: the header includes what it uses.
#include <hotpatch/module.hpp>
