#include <algorithm>
#include <cstdio>

#include "careloop/care/care.hpp"

namespace careloop::care {

core::Result<std::shared_ptr<const ProtocolLibrary>> ProtocolLibrary::load(const std::filesystem::path& dir,
                                                                           const std::vector<std::string>& ids,
                                                                           std::optional<std::int64_t> escalate_after_ms) {
  auto loaded = protocols::load_directory(dir);
  if (!loaded.ok()) {
    std::string msg = "invalid protocols in " + dir.string() + ":";
    for (const auto& e : loaded.errors) msg += "\n  " + protocols::format(e);
    return core::Error::invalid(msg);
  }
  auto lib = std::make_shared<ProtocolLibrary>();
  lib->all_ = std::move(loaded.protocols);
  std::vector<const protocols::Protocol*> chosen;
  for (const auto& id : ids) {
    // Several versions of one id: the last file (sorted by name) wins.
    const protocols::Protocol* found = nullptr;
    for (const auto& p : lib->all_)
      if (p.id == id) found = &p;
    if (!found) return core::Error::invalid("protocol " + id + " is not in " + dir.string());
    chosen.push_back(found);
  }
  auto set = protocols::ProtocolSet::make(std::move(chosen));
  if (!set) return set.error();
  lib->set_ = std::move(*set);
  lib->shared_set_ = std::make_shared<const protocols::ProtocolSet>(lib->set_);
  lib->settings_ = protocols::merged_alert_settings(lib->set_);
  if (escalate_after_ms) lib->settings_.escalate_critical_after_ms = *escalate_after_ms;
  return std::shared_ptr<const ProtocolLibrary>(std::move(lib));
}

const protocols::Protocol* ProtocolLibrary::find(std::string_view id, std::string_view version) const noexcept {
  const protocols::Protocol* found = nullptr;
  for (const auto& p : all_)
    if (p.id == id && (version.empty() || p.version == version)) found = &p;
  return found;
}

core::Result<protocols::ProtocolSet> ProtocolLibrary::choose(const std::vector<std::string>& ids) const {
  if (ids.empty()) return set_;
  std::vector<const protocols::Protocol*> chosen;
  for (const auto& id : ids) {
    const auto* p = find(id);
    if (!p) {
      std::string known;
      for (const auto& q : all_)
        if (known.find(q.id) == std::string::npos) known += (known.empty() ? "" : ", ") + q.id;
      return core::Error::invalid("protocol " + id + " is not loaded (known: " + known + ")");
    }
    chosen.push_back(p);
  }
  // A programme the choice does not name keeps the deployment's protocol: a
  // clinic that moves its hypertension care to another protocol does not
  // stop its diabetic patients' plans and alerts.
  for (const auto* d : set_.protocols())
    if (std::none_of(chosen.begin(), chosen.end(), [&](const auto* c) { return c->programme == d->programme; }))
      chosen.push_back(d);
  return protocols::ProtocolSet::make(std::move(chosen));
}

std::shared_ptr<const protocols::ProtocolSet> ProtocolLibrary::set_for(const std::vector<std::string>& ids) const {
  if (ids.empty()) return shared_set_;
  std::string key;
  for (const auto& id : ids) key.append(id).push_back('\n');
  std::lock_guard lock(chosen_mutex_);
  if (auto it = chosen_.find(key); it != chosen_.end()) return it->second;
  std::shared_ptr<const protocols::ProtocolSet> made;
  if (auto set = choose(ids)) {
    made = std::make_shared<const protocols::ProtocolSet>(std::move(*set));
  } else {
    std::fprintf(stderr, "careloop care: a clinic's protocol choice cannot be used (%s); using the deployment's set\n",
                 set.error().message.c_str());
    made = shared_set_;
  }
  chosen_.emplace(std::move(key), made);
  return made;
}

std::shared_ptr<const ProtocolLibrary> ProtocolLibrary::empty() { return std::make_shared<ProtocolLibrary>(); }

const protocols::AlertRule* ProtocolLibrary::rule(std::string_view protocol_id, std::string_view rule_id) const noexcept {
  for (const auto& p : all_) {
    if (p.id != protocol_id) continue;
    for (const auto& r : p.alerts)
      if (r.id == rule_id) return &r;
  }
  return nullptr;
}

}  // namespace careloop::care
