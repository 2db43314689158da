#include "careloop/core/reading.hpp"

#include "careloop/core/enum_names.hpp"

namespace careloop::core {
namespace {

constexpr NameTable<ReadingKind, 6> kinds{{
    {"blood_pressure", ReadingKind::blood_pressure},
    {"glucose", ReadingKind::glucose},
    {"weight", ReadingKind::weight},
    {"heart_rate", ReadingKind::heart_rate},
    {"hba1c", ReadingKind::hba1c},
    {"medication", ReadingKind::medication},
}};
constexpr NameTable<GlucoseContext, 5> contexts{{
    {"fasting", GlucoseContext::fasting},
    {"before_meal", GlucoseContext::before_meal},
    {"after_meal", GlucoseContext::after_meal},
    {"bedtime", GlucoseContext::bedtime},
    {"random", GlucoseContext::random},
}};
constexpr NameTable<MedicationStatus, 2> statuses{{
    {"taken", MedicationStatus::taken},
    {"missed", MedicationStatus::missed},
}};

}  // namespace

std::string_view to_string(ReadingKind k) noexcept { return enum_name(kinds, k); }
std::string_view to_string(GlucoseContext c) noexcept { return enum_name(contexts, c); }
std::string_view to_string(MedicationStatus s) noexcept { return enum_name(statuses, s); }
std::optional<ReadingKind> parse_reading_kind(std::string_view s) noexcept { return enum_from_name(kinds, s); }
std::optional<GlucoseContext> parse_glucose_context(std::string_view s) noexcept { return enum_from_name(contexts, s); }
std::optional<MedicationStatus> parse_medication_status(std::string_view s) noexcept { return enum_from_name(statuses, s); }

}  // namespace careloop::core
