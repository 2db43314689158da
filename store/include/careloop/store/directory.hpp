#pragma once
// The directory: regions, clinics and user accounts (who works where).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

struct NewRegion {
  std::optional<std::int64_t> parent_id;
  std::string name;
  core::RegionLevel level = core::RegionLevel::province;
  std::string code;
};

struct NewClinic {
  std::int64_t region_id = 0;
  std::string name;
  std::string timezone = "Asia/Shanghai";
};

// A user and its Argon2id password hash (already hashed: hashing is
// blocking work and belongs to the caller's compute thread).
struct NewUser {
  core::User user;  // id and created_at_ms ignored
  std::string password_hash;
};

class Directory {
 public:
  virtual ~Directory() = default;

  virtual void add_region(NewRegion r, Completion<std::int64_t> done) = 0;
  virtual void add_clinic(NewClinic c, Completion<std::int64_t> done) = 0;
  virtual void add_user(NewUser u, Completion<std::int64_t> done) = 0;
  virtual core::Result<core::Region> region(std::int64_t id) = 0;
  virtual std::vector<core::Region> regions() = 0;
  virtual core::Result<core::Clinic> clinic(std::int64_t id) = 0;
  virtual std::vector<core::Clinic> clinics() = 0;
  virtual core::Result<core::User> user(std::int64_t id) = 0;
  virtual core::Result<core::User> user_by_username(const std::string& username) = 0;
  virtual std::vector<core::User> users() = 0;
  // The user account of a patient, if it has one.
  virtual std::optional<core::User> patient_account(std::int64_t patient_id) = 0;
};

}  // namespace careloop::store
