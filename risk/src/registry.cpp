#include "careloop/risk/registry.hpp"

#include <algorithm>

namespace careloop::risk {

ModelRegistry::ModelRegistry(std::filesystem::path models_dir) : dir_(std::move(models_dir)) {}

RegistryLoad ModelRegistry::reload() {
  RegistryLoad report;
  std::vector<std::filesystem::path> folders;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec))
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "model.json")) folders.push_back(entry.path());
  if (ec) {
    report.refused.push_back({dir_.string(), core::Error::not_found("cannot list " + dir_.string() + ": " + ec.message())});
    return report;
  }
  std::sort(folders.begin(), folders.end());

  std::map<std::string, std::shared_ptr<const Model>, std::less<>> next;
  for (const auto& folder : folders) {
    auto model = Model::load(folder);
    if (!model) {
      report.refused.push_back({folder.filename().string(), model.error()});
      continue;
    }
    const auto& spec = (*model)->spec();
    if (spec.id != folder.filename().string()) {
      report.refused.push_back({folder.filename().string(),
                                core::Error::invalid("spec id '" + spec.id + "' differs from its folder's name")});
      continue;
    }
    report.loaded.push_back(spec.id + " " + spec.version);
    next[spec.id] = std::move(*model);
  }
  std::lock_guard lock(mutex_);
  // A refused model keeps serving its previous version, if it had one.
  for (const auto& r : report.refused)
    if (auto it = models_.find(r.folder); it != models_.end() && !next.count(r.folder)) next.insert(*it);
  models_ = std::move(next);
  return report;
}

std::shared_ptr<const Model> ModelRegistry::find(std::string_view id) const {
  std::lock_guard lock(mutex_);
  const auto it = models_.find(id);
  return it == models_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Model>> ModelRegistry::models() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const Model>> out;
  for (const auto& [id, m] : models_) out.push_back(m);
  return out;
}

}  // namespace careloop::risk
