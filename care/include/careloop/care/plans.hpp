#pragma once
// Care plan versions (issue 4 items 4–5): the engine's plan for a patient,
// stored as a new `proposed` version only when its content changed; the
// doctor's approve / edit / reject, each one write job with its audit entry;
// a clinic's choice of protocols. See care/README.md "Care plans".
//
// Planner, propose_all and set_clinic_protocols block (store reads, the
// engine): call them from a compute thread or a command-line tool.
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/core/debouncer.hpp"
#include "careloop/care/care.hpp"

namespace careloop::care {

// What a new version must change: the plan without what moves with the clock
// alone (generated_at, follow_up.due, the medication reasons that count days
// or doses; the rationale is kept apart). Two plans with equal content are
// the same plan.
nlohmann::json plan_content(const nlohmann::json& plan);

// A version as the clinic API shows it (contracts.md PlanVersion).
nlohmann::json plan_version_json(const store::CarePlanRow& row);

// The approved plan as the patient sees it: version, approved_at, protocols,
// plan, and the plan in plain words (zh-CN, en).
nlohmann::json patient_plan_json(const store::CarePlanRow& row);

class Planner {
 public:
  Planner(store::Store& store, std::shared_ptr<const ProtocolLibrary> library)
      : store_(store), library_(std::move(library)) {}

  struct Proposal {
    std::optional<store::CarePlanRow> proposed;  // the patient's proposed version after the run, if any
    bool changed = false;                        // a new version was stored
  };
  // Evaluates the patient now and stores a new proposed version when the plan
  // differs from the latest proposed and approved ones (and from a proposal
  // the doctor rejected or edited since); an older proposal is superseded.
  core::Result<Proposal> propose(std::int64_t patient_id, std::int64_t now_ms) const;

  struct Summary {
    std::int64_t patients = 0;
    std::int64_t proposed = 0;   // new versions stored
    std::int64_t unchanged = 0;  // evaluated, same content as before
    std::int64_t skipped = 0;    // no protocol of the clinic applies (or its choice names one not loaded)
  };
  // Every patient, `batch` at a time, each batch's versions in one write job;
  // progress(done, total) after each batch.
  core::Result<Summary> propose_all(std::int64_t now_ms, int batch,
                                    const std::function<void(std::int64_t, std::int64_t)>& progress) const;

  // The protocols that apply to a clinic's patients: its choice, or the deployment's set.
  core::Result<protocols::ProtocolSet> protocols_for_clinic(std::int64_t clinic_id) const;

  const ProtocolLibrary& library() const noexcept { return *library_; }
  const std::shared_ptr<const ProtocolLibrary>& library_ptr() const noexcept { return library_; }

  struct Candidate;

 private:
  // The plan for a patient whose kept state is `state` (Store::patients_with_state).
  core::Result<std::optional<Candidate>> evaluate(const core::Patient& patient, const core::PatientState& state,
                                                  const protocols::ProtocolSet& set, std::int64_t now_ms) const;
  // The records and kept states of `ids` (the shared batch read).
  std::vector<store::PatientWithState> with_states(std::span<const std::int64_t> ids, std::int64_t now_ms) const;

  store::Store& store_;
  std::shared_ptr<const ProtocolLibrary> library_;
};

// Re-planning after new readings, debounced like scoring::Rescorer: a patient
// scheduled again before `delay` ran out is planned once, `delay` after the
// last schedule, on the given pool. schedule() is cheap and thread-safe.
class Replanner {
 public:
  Replanner(const Planner& planner, boost::asio::thread_pool& pool, std::chrono::milliseconds delay);
  Replanner(const Replanner&) = delete;
  Replanner& operator=(const Replanner&) = delete;

  void schedule(std::int64_t patient_id);
  // Pending runs are dropped (the next reading or the daily run catches up).
  void stop();
  std::uint64_t planned() const noexcept;
  core::DebouncerCounts counts() const noexcept;

 private:
  core::Debouncer debouncer_;
};

// A doctor's decision on a proposed version.
enum class PlanDecisionKind { approve, edit, reject };
struct PlanDecision {
  PlanDecisionKind kind = PlanDecisionKind::approve;
  std::int64_t patient_id = 0;
  int version = 0;
  std::int64_t by_user_id = 0;
  std::string note;           // approve, edit: optional; reject: the reason, required
  nlohmann::json edited_plan; // edit
  std::string remote_addr;    // for the audit entry
};

// Applies the decision in one write job with its audit entry. approve: the
// version becomes approved, the approved one before it superseded, and the
// patient's sync feed gets it. edit: a new approved version holding the
// validated edit, its RFC 6902 diff from the proposal and edited_from; the
// proposal and the approved one before it are superseded. reject: rejected
// with the reason. Errors: not_found (no such version), conflict (not
// proposed), invalid with field pointers (/reason, /plan/...).
void decide_plan(store::Transactions& st, std::shared_ptr<const ProtocolLibrary> library, PlanDecision d,
                 store::Completion<store::CarePlanRow> done);

// Checks a doctor's edit of `proposal` (a stored plan JSON) and returns the
// plan to store: known fields only, targets in sane ranges, a medication step
// of the protocol's ladder that the proposal's active cautions do not forbid,
// monitoring rules, lifestyle goals and referral rules of the plan's
// protocols (their texts are taken from the protocol). Errors name each bad
// field under /plan.
core::Result<nlohmann::json> validate_edit(const nlohmann::json& proposal, const nlohmann::json& edited,
                                           const ProtocolLibrary& library);

// Sets a clinic's protocols (validated against the library: known ids, one per
// programme); an empty list returns the clinic to the deployment's set.
core::Status set_clinic_protocols(store::Store& st, const ProtocolLibrary& library, std::int64_t clinic_id,
                                  const std::vector<std::string>& ids);

}  // namespace careloop::care
