#pragma once
// The models a server scores with: every folder of data/models/ holding a
// model.json, loaded at start and again on reload() (the server calls it
// on SIGHUP). A model that fails to load or whose features differ from its
// spec is refused with the reason; on reload the previous version of a
// refused model stays in service. Lookups are thread-safe and hand out
// shared_ptrs, so a reload never pulls a model from under a running score.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/risk/model.hpp"

namespace careloop::risk {

struct RegistryLoad {
  std::vector<std::string> loaded;  // "id version"
  struct Refused {
    std::string folder;
    core::Error error;
  };
  std::vector<Refused> refused;
};

class ModelRegistry {
 public:
  explicit ModelRegistry(std::filesystem::path models_dir);

  // Loads every model folder (blocking: not on an I/O thread). A folder that
  // disappeared drops its model.
  RegistryLoad reload();

  std::shared_ptr<const Model> find(std::string_view id) const;
  std::vector<std::shared_ptr<const Model>> models() const;
  const std::filesystem::path& directory() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Model>, std::less<>> models_;
};

}  // namespace careloop::risk
