#pragma once
// Patient records, and the clinic's patient list with its figures.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "careloop/core/domain.hpp"
#include "careloop/store/common.hpp"

namespace careloop::store {

// What the clinic's patient list needs of each patient, read in a few
// grouped queries (no per-patient reading scans), for the list to rank and
// filter in memory.
struct PatientListScope {
  std::optional<std::int64_t> clinic_id;  // none: every clinic
  std::int64_t readings_from_ms = 0;      // the means cover readings taken at or after this
};

struct PatientListRow {
  core::Patient patient;  // with diagnoses and comorbidities (medications not loaded)
  std::optional<std::int64_t> last_reading_ms;  // any kind, ever
  // Readings since readings_from_ms.
  int bp_count = 0;
  double systolic_sum = 0, diastolic_sum = 0;
  int fasting_count = 0;
  double fasting_sum = 0;
  int nonfasting_count = 0;
  double nonfasting_sum = 0;
  struct Alert {
    std::int64_t id = 0;
    std::string signal, tier, status;
    std::int64_t opened_at_ms = 0;
  };
  std::vector<Alert> alerts;  // not resolved
  struct Risk {
    std::string model_id, band;
    double probability = 0;
  };
  std::vector<Risk> risks;  // each model's newest score
};

class Patients {
 public:
  virtual ~Patients() = default;

  virtual void add_patient(core::Patient p, Completion<std::int64_t> done) = 0;
  virtual core::Result<core::Patient> patient(std::int64_t id) = 0;
  virtual std::vector<core::Patient> patients_of_clinic(std::int64_t clinic_id) = 0;
  // Every patient id, ascending (batch scoring walks them in pages).
  virtual std::vector<std::int64_t> patient_ids(std::int64_t after_id, int limit) = 0;
  // Every patient of the scope with its list figures, by id.
  virtual std::vector<PatientListRow> patient_list(const PatientListScope& scope) = 0;
  // A key that changes whenever patient_list of the clinic (or of every
  // clinic) could: new readings, messages or plans (changes), alert events,
  // risk scores or patients. Index lookups only.
  virtual std::string patient_list_version(std::optional<std::int64_t> clinic_id) = 0;
};

}  // namespace careloop::store
