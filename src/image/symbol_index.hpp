// Finds functions and variables of loaded modules by name, from their ELF symbol tables on disk
// (.symtab, so `static` ones too), relocated by the module's load base (PIE / ASLR).
#pragma once

#include <hotpatch/module.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch::image {

struct ResolvedSymbol {
  std::string name;  ///< as in the symbol table (mangled)
  std::uintptr_t address = 0;
  std::size_t size = 0;
  bool is_function = false;
};

enum class SymbolKind { function, any };

/// Looks `name` up in `module`: exact (mangled or C) name first, then, for names that look like a
/// C++ signature, the demangled names. Refuses names that match several distinct addresses.
Result<ResolvedSymbol> resolve_symbol(const LoadedModule& module, const std::string& name, SymbolKind kind);

/// A `static` function or variable of the translation unit whose source file is named `unit` (its
/// STT_FILE symbol, e.g. "parser.c"); several units of that name are refused as ambiguous.
Result<ResolvedSymbol> resolve_local_symbol(const LoadedModule& module, const std::string& name, const std::string& unit);

/// The global (or weak) function or variable `name` of the module, passing over `static` ones of
/// the same name in other units: what a reference to an external symbol binds to at link time.
Result<ResolvedSymbol> resolve_global_symbol(const LoadedModule& module, const std::string& name);

/// Every vtable (_ZTV*) of a module, as address ranges of pointer arrays.
Result<std::vector<ResolvedSymbol>> vtables_of(const LoadedModule& module);

/// Drops cached symbol tables (tests, or after a module was unloaded).
void clear_symbol_cache();

}  // namespace hotpatch::image
