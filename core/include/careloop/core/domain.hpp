#pragma once
// The people and places of a county: regions, clinics, users, patients.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace careloop::core {

enum class Role { patient, doctor, authority, admin };
std::string_view to_string(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

// province → city → district → community
enum class RegionLevel { province, city, district, community };
std::string_view to_string(RegionLevel l) noexcept;
std::optional<RegionLevel> parse_region_level(std::string_view s) noexcept;

enum class Sex { female, male };
std::string_view to_string(Sex s) noexcept;
std::optional<Sex> parse_sex(std::string_view s) noexcept;

enum class Smoking { never, former, current };
std::string_view to_string(Smoking s) noexcept;
std::optional<Smoking> parse_smoking(std::string_view s) noexcept;

struct Region {
  std::int64_t id = 0;
  std::optional<std::int64_t> parent_id;
  std::string name;
  RegionLevel level = RegionLevel::province;
  std::string code;  // administrative division code, e.g. "110105"
};

struct Clinic {
  std::int64_t id = 0;
  std::int64_t region_id = 0;
  std::string name;
  std::string timezone = "Asia/Shanghai";
};

struct User {
  std::int64_t id = 0;
  std::string username;
  Role role = Role::patient;
  std::string display_name;
  std::optional<std::int64_t> clinic_id;   // doctor, patient
  std::optional<std::int64_t> region_id;   // authority
  std::optional<std::int64_t> patient_id;  // patient
  bool active = true;
  std::int64_t created_at_ms = 0;
};

// Conditions tracked by the programme.
inline constexpr std::string_view dx_hypertension = "hypertension";
inline constexpr std::string_view dx_diabetes_t2 = "diabetes_t2";

struct Diagnosis {
  std::string code;               // dx_hypertension, dx_diabetes_t2
  std::int64_t diagnosed_on = 0;  // days since epoch
};

struct Medication {
  std::string name;               // e.g. "amlodipine"
  std::string dose;               // e.g. "5 mg once daily"
  std::int64_t since = 0;         // days since epoch
};

struct Patient {
  std::int64_t id = 0;
  std::int64_t clinic_id = 0;
  std::string name;
  std::string phone;
  Sex sex = Sex::female;
  std::int64_t birth_date = 0;  // days since epoch
  std::optional<double> height_cm;
  Smoking smoking = Smoking::never;
  int parents_with_hypertension = 0;  // 0, 1, 2
  bool family_history_diabetes = false;
  bool pregnant = false;
  std::vector<Diagnosis> diagnoses;
  std::vector<std::string> comorbidities;  // "ckd", "chd", "heart_failure", "stroke", ...
  std::vector<Medication> medications;
  std::int64_t registered_at_ms = 0;
  std::string external_id;  // the clinic's own record number, optional
  // Set when an admin anonymised the record (PIPL Art. 47): identity removed,
  // processing stopped; what stays is kept only for the aggregates and the
  // retention the law requires (docs/DESIGN-NOTES.md, "Privacy").
  std::optional<std::int64_t> anonymised_at_ms;

  bool has_diagnosis(std::string_view code) const noexcept {
    for (const auto& d : diagnoses)
      if (d.code == code) return true;
    return false;
  }
};

}  // namespace careloop::core
