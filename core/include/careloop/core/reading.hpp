#pragma once
// A home reading in canonical units (DESIGN §3, §4). The value and unit as
// the phone sent them are kept beside the canonical value.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "careloop/core/time.hpp"

namespace careloop::core {

enum class ReadingKind { blood_pressure, glucose, weight, heart_rate, hba1c, medication };
enum class GlucoseContext { fasting, before_meal, after_meal, bedtime, random };
enum class MedicationStatus { taken, missed };

std::string_view to_string(ReadingKind k) noexcept;
std::string_view to_string(GlucoseContext c) noexcept;
std::string_view to_string(MedicationStatus s) noexcept;
std::optional<ReadingKind> parse_reading_kind(std::string_view s) noexcept;
std::optional<GlucoseContext> parse_glucose_context(std::string_view s) noexcept;
std::optional<MedicationStatus> parse_medication_status(std::string_view s) noexcept;

struct Reading {
  std::int64_t id = 0;          // assigned by the store
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;   // filled by the store from the patient
  std::string client_id;        // client-generated UUID, lower case
  ReadingKind kind = ReadingKind::blood_pressure;
  Instant taken_at;
  std::int64_t received_at_ms = 0;
  std::string source;           // device or app that sent it
  std::string note;

  // Canonical values; which are set depends on kind.
  std::optional<double> systolic_mmhg;   // blood_pressure
  std::optional<double> diastolic_mmhg;  // blood_pressure
  std::optional<double> pulse_bpm;       // blood_pressure (optional), heart_rate
  std::optional<double> glucose_mmol_l;  // glucose
  std::optional<GlucoseContext> glucose_context;
  std::optional<double> weight_kg;       // weight
  std::optional<double> hba1c_percent;   // hba1c
  std::string medication_name;           // medication
  std::optional<MedicationStatus> medication_status;

  // The main value as the client sent it, and its unit ("mg/dL", "lb", ...).
  std::optional<double> value_as_sent;
  std::string unit_as_sent;

  std::int64_t change_seq = 0;  // assigned by the store: the sync cursor
};

}  // namespace careloop::core
