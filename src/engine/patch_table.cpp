#include "engine/patch_table.hpp"

#include <algorithm>

namespace hotpatch::engine {

FunctionEntry* PatchTable::find(std::uintptr_t address) {
  auto it = functions_.find(address);
  return it == functions_.end() ? nullptr : &it->second;
}

const FunctionEntry* PatchTable::find(std::uintptr_t address) const {
  auto it = functions_.find(address);
  return it == functions_.end() ? nullptr : &it->second;
}

FunctionEntry& PatchTable::insert(FunctionEntry entry) {
  const auto address = entry.address;
  return functions_.insert_or_assign(address, std::move(entry)).first->second;
}

const AppliedRecord* PatchTable::newest_with_id(const std::string& id) const {
  for (auto it = applied_.rbegin(); it != applied_.rend(); ++it)
    if ((*it)->info.manifest.id == id) return it->get();
  return nullptr;
}

bool PatchTable::has(const std::string& id, std::uint32_t version) const {
  return std::any_of(applied_.begin(), applied_.end(), [&](const auto& r) {
    return r->info.manifest.id == id && r->info.manifest.version == version;
  });
}

const AppliedRecord& PatchTable::add_patch(AppliedRecord record) {
  applied_.push_back(std::make_unique<AppliedRecord>(std::move(record)));
  return *applied_.back();
}

void PatchTable::remove_patch(const AppliedRecord* record) {
  std::erase_if(applied_, [&](const auto& r) { return r.get() == record; });
}

std::vector<PatchedFunction> PatchTable::rows() const {
  std::vector<PatchedFunction> out;
  for (const auto& [address, f] : functions_) {
    if (f.layers.empty()) continue;
    PatchedFunction row;
    row.symbol = f.symbol;
    row.module = f.module;
    row.address = address;
    row.version = f.layers.back().patch->info.manifest.version;
    row.patch_id = f.layers.back().patch->info.manifest.id;
    row.method = f.method;
    row.since = f.layers.back().since;
    row.stacked = f.layers.size() - 1;
    row.unloaded = f.unloaded;
    row.reload_error = f.follow_error;
    out.push_back(std::move(row));
  }
  return out;
}

void PatchTable::erase(std::uintptr_t address) { functions_.erase(address); }

FunctionEntry& PatchTable::rekey(std::uintptr_t from, std::uintptr_t to) {
  if (from == to) return functions_.at(from);
  auto node = functions_.extract(from);
  node.key() = to;
  node.mapped().address = to;
  auto& entry = functions_.insert(std::move(node)).position->second;
  for (auto& r : applied_) std::replace(r->functions.begin(), r->functions.end(), from, to);
  return entry;
}

std::vector<AppliedPatch> PatchTable::patches() const {
  std::vector<AppliedPatch> out;
  for (const auto& r : applied_) {
    AppliedPatch info = r->info;
    info.targets_unloaded = !r->functions.empty() && std::all_of(r->functions.begin(), r->functions.end(), [&](auto a) {
      auto it = functions_.find(a);
      return it != functions_.end() && it->second.unloaded;
    });
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace hotpatch::engine
