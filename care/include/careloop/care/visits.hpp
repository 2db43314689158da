#pragma once
// Follow-up visits (CLINICAL §2 "Follow-up"): the clinic records each visit —
// face to face at the clinic or at home, or by phone — with the national
// follow-up form's classification. A visit is what a care plan's follow-up
// date asks for, so it moves the follow-up-overdue alert's due date; two
// consecutive uncontrolled visits are a referral criterion of the protocols
// (fact `visits.consecutive_uncontrolled`); and a visit is contact for the
// population reports (CLINICAL §4 "a visit or reading").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "careloop/core/result.hpp"
#include "careloop/core/time.hpp"
#include "careloop/store/common.hpp"

namespace careloop::care {

inline constexpr std::string_view visit_kinds[] = {"clinic", "home", "phone"};
inline constexpr std::string_view visit_classifications[] = {"controlled", "uncontrolled", "adverse_reaction",
                                                             "complication"};

struct VisitInput {
  std::int64_t patient_id = 0;
  std::string client_id;  // the recording app's id: a resend returns the stored visit
  core::Instant visited_at;
  std::string kind;
  std::string classification;
  std::int64_t by_user_id = 0;
  std::string note;
  std::string remote_addr;  // for the audit entry
};

struct RecordedVisit {
  store::VisitRow row;
  bool created = false;  // false: the client id was stored already (a resend)
};

// Checks the fields (errors name them: /client_id, /visited_at, /kind,
// /classification, /note) against `now_ms` (no visit in the future beyond
// 5 minutes of clock skew).
core::Status check_visit(const VisitInput& v, std::int64_t now_ms);

// Stores the visit and its audit entry in one write job. A client id already
// stored for the patient returns that visit (created = false) when it is the
// same visit, and a conflict when it is not. Errors: invalid (check_visit),
// not_found (no such patient), conflict.
void record_visit(store::Transactions& st, VisitInput v, store::Completion<RecordedVisit> done);

// The visit as the clinic API shows it.
nlohmann::json visit_json(const store::VisitRow& v);

// The number of consecutive visits classified uncontrolled, counting back
// from the newest (`newest_first`, as Store::visits returns them). Phone
// visits count: the follow-up form classifies them too.
int consecutive_uncontrolled(const std::vector<store::VisitRow>& newest_first);

// The day a plan's follow-up is due once visits are known: `within_days`
// after the newest visit made on or after the day the plan's interval began
// (`due_day - within_days`), else the plan's own due day. Days are local
// days since 1970-01-01.
std::int64_t follow_up_due_day(std::int64_t plan_due_day, int within_days,
                               const std::vector<store::VisitRow>& newest_first);

}  // namespace careloop::care
