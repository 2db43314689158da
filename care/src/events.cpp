#include "careloop/care/care.hpp"

namespace careloop::care {
namespace {

// Unsubscribes when the last copy of the handle goes.
struct Token {
  std::function<void()> release;
  ~Token() {
    if (release) release();
  }
};

}  // namespace

std::shared_ptr<void> ClinicEventHub::subscribe(std::int64_t clinic_id, Wake wake) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    entries_.emplace(id, Entry{clinic_id, std::move(wake)});
  }
  auto token = std::make_shared<Token>();
  // The hub outlives the streams (the application owns both; streams end before it goes).
  token->release = [this, id] {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
  };
  return token;
}

void ClinicEventHub::publish(std::int64_t clinic_id) {
  std::vector<Wake> wakes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_)
      if (e.clinic_id == clinic_id) wakes.push_back(e.wake);
  }
  for (auto& w : wakes) w();
}

void ClinicEventHub::publish_all() {
  std::vector<Wake> wakes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_) wakes.push_back(e.wake);
  }
  for (auto& w : wakes) w();
}

const std::string& event_body(const store::ClinicEvent& e) noexcept { return e.payload_json; }

std::size_t ClinicEventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace careloop::care
