// The plan as `hotpatch make-patch --plan` prints it.
#include "make_patch/plan.hpp"

#include <sstream>

namespace hotpatch::make_patch {

std::string plan_text(const Plan& plan) {
  std::ostringstream out;
  out << "target: " << plan.target << " (" << (plan.shared_library ? "shared library, " : "") << "build-id " << (plan.build_id.empty() ? "none" : plan.build_id) << ")\n";
  if (plan.symbols_from != plan.target) out << "  symbols from its debug file " << plan.symbols_from << "\n";
  if (!plan.scratch.empty()) out << "scratch directory (kept): " << plan.scratch << "\n";
  out << "recompiled units:\n";
  for (const auto& u : plan.units) out << "  " << u << "\n";
  out << "changed functions (replaced):\n";
  for (const auto& f : plan.changed) {
    out << "  " << f.display;
    if (f.display != f.symbol && !f.local) out << " [" << f.symbol << "]";
    out << ": " << f.why;
    if (!f.in_target) out << "; not in the target (inlined everywhere): nothing to replace";
    if (f.local && f.same_named_statics > 1)
      out << "; " << f.same_named_statics << " statics of this name in the target, this one by its unit's file symbol";
    if (f.never_returns) out << "; never returns: takes effect on its next call only";
    out << "\n";
  }
  if (!plan.added.empty()) out << "new functions (carried):\n";
  for (const auto& f : plan.added) out << "  " << f.display << "\n";
  if (!plan.new_variables.empty()) out << "new variables (carried, initialised as the patched source says):\n";
  for (const auto& v : plan.new_variables) out << "  " << v.display << "\n";
  if (!plan.imports.empty()) out << "imports (unchanged symbols the changed code refers to):\n";
  for (const auto& i : plan.imports) {
    out << "  " << i.display << " (" << (i.function ? "function" : "data") << ", ";
    if (!i.in_program) out << "from a shared library";
    else if (i.local) out << "static, found by its unit's file symbol";
    else out << "from the program";
    out << ")\n";
  }
  if (!plan.skipped.empty()) out << "skipped, not part of the build:\n";
  for (const auto& s : plan.skipped) out << "  " << s << "\n";
  if (!plan.notes.empty()) out << "notes:\n";
  for (const auto& n : plan.notes) out << "  " << n << "\n";
  return out.str();
}

}  // namespace hotpatch::make_patch
