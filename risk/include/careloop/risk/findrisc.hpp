#pragma once
// FINDRISC, the Finnish Diabetes Risk Score: Lindström J, Tuomilehto J. The
// diabetes risk score: a practical tool to predict type 2 diabetes risk.
// Diabetes Care 2003;26:725–731.
//
// CLINICAL.md does not list these points; they come from the published score.
// The 2003 paper's own score (adults 35–64, 10-year drug-treated diabetes)
// runs 0–20: age 45–54/55–64 → 2/3, BMI, waist, antihypertensive drugs,
// history of high glucose, physical activity and daily vegetables/fruit.
// The 0–26 questionnaire encoded here is the current FINDRISC form built on
// that paper, which adds age > 64 → 4 and family history of diabetes 3/5, and
// asks about physical activity as "at least 30 minutes a day". A clinician
// should check these points against the form the clinic hands out.
#include <string_view>

#include "careloop/core/result.hpp"

namespace careloop::risk {

enum class FamilyHistoryOfDiabetes {
  none,
  second_degree,  // grandparent, aunt, uncle or first cousin, but no first-degree relative
  first_degree,   // parent, brother, sister or own child
};

struct FindriscAnswers {
  bool male = false;
  int age_years = 0;  // completed years
  double bmi_kg_m2 = 0;
  double waist_cm = 0;  // measured below the ribs, usually at the navel
  bool physically_active_30_min_daily = false;  // at work or in leisure time
  bool vegetables_or_fruit_daily = false;
  bool takes_antihypertensive_medication = false;  // ever, regularly
  bool history_of_high_glucose = false;  // ever found: check-up, illness, pregnancy
  FamilyHistoryOfDiabetes family_history = FamilyHistoryOfDiabetes::none;
};

enum class FindriscBand { low, slightly_elevated, moderate, high, very_high };
std::string_view to_string(FindriscBand b) noexcept;

struct FindriscScore {
  int age_points = 0;
  int bmi_points = 0;
  int waist_points = 0;
  int physical_activity_points = 0;
  int vegetables_fruit_points = 0;
  int antihypertensive_points = 0;
  int high_glucose_points = 0;
  int family_history_points = 0;
  int total_points = 0;  // 0–26
  FindriscBand band = FindriscBand::low;
};

inline constexpr int findrisc_max_points = 26;

// The published bands: < 7 low, 7–11 slightly elevated, 12–14 moderate,
// 15–20 high, > 20 very high.
FindriscBand findrisc_band(int total_points) noexcept;

// Points: age < 45/45–54/55–64/> 64 → 0/2/3/4; BMI < 25/25–30/> 30 → 0/1/3;
// waist men < 94/94–102/> 102 cm, women < 80/80–88/> 88 cm → 0/3/4; not
// active 30 min daily 2; no daily vegetables/fruit 1; antihypertensive
// medication 2; history of high glucose 5; family history second-degree 3,
// first-degree 5. Errc::invalid for a negative age or a non-positive BMI or waist.
core::Result<FindriscScore> findrisc(const FindriscAnswers& a);

}  // namespace careloop::risk
