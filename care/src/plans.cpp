// Care plan versions: proposing (only when the content changed), the
// debounced re-planning after readings, the doctor's decisions, and a
// clinic's protocol choice.
#include "careloop/care/plans.hpp"
#include "careloop/care/visits.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "careloop/core/patient_state.hpp"
#include "careloop/core/time.hpp"
#include "careloop/protocols/engine.hpp"
#include "careloop/protocols/facts.hpp"

namespace careloop::care {

using nlohmann::json;

struct Planner::Candidate {
  std::int64_t patient_id = 0;
  std::int64_t clinic_id = 0;
  json protocols;
  json plan;
  json rationale;
};

namespace {

constexpr std::int64_t day_ms = 86'400'000;

json parse_or(const std::string& text, json fallback) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::optional<json> iso_or_null(const std::optional<std::int64_t>& ms) {
  if (!ms) return std::nullopt;
  return json(core::format_iso8601_utc(*ms));
}

std::pair<std::string, std::string> joined_ids(const json& protocols) {
  std::string ids, versions;
  for (const auto& p : protocols) {
    ids += (ids.empty() ? "" : ",") + p.value("id", std::string());
    versions += (versions.empty() ? "" : ",") + p.value("version", std::string());
  }
  return {ids, versions};
}

const store::CarePlanRow* with_status(const std::vector<store::CarePlanRow>& rows, std::string_view status) {
  for (const auto& r : rows)  // newest first
    if (r.status == status) return &r;
  return nullptr;
}

const store::CarePlanRow* with_version(const std::vector<store::CarePlanRow>& rows, int version) {
  for (const auto& r : rows)
    if (r.version == version) return &r;
  return nullptr;
}

// The plans a new evaluation is compared with: the proposed one, the approved
// one and (for an edit) the proposal it was edited from, and a rejected
// proposal newer than the approved one — a plan the doctor turned down or
// changed is not proposed again until the engine's plan itself changes.
std::vector<json> baselines(const std::vector<store::CarePlanRow>& rows) {
  std::vector<json> out;
  auto add = [&](const store::CarePlanRow* r) {
    if (r) out.push_back(plan_content(parse_or(r->plan_json, json::object())));
  };
  add(with_status(rows, "proposed"));
  const auto* approved = with_status(rows, "approved");
  add(approved);
  if (approved && approved->edited_from) add(with_version(rows, *approved->edited_from));
  const auto* rejected = with_status(rows, "rejected");
  if (rejected && (!approved || rejected->version > approved->version)) add(rejected);
  return out;
}

// Inside the write job: stores the candidate as a new proposed version unless
// its content equals a baseline.
Planner::Proposal store_candidate(store::WriteTxn& txn, const Planner::Candidate& c, std::int64_t now_ms) {
  auto rows = txn.care_plans(c.patient_id);
  Planner::Proposal out;
  const json content = plan_content(c.plan);
  for (const auto& b : baselines(rows))
    if (b == content) {
      if (const auto* p = with_status(rows, "proposed")) out.proposed = *p;
      return out;
    }
  if (const auto* old = with_status(rows, "proposed")) {
    auto superseded = *old;
    superseded.status = "superseded";
    txn.save_care_plan(superseded);
  }
  store::CarePlanRow row;
  row.patient_id = c.patient_id;
  row.clinic_id = c.clinic_id;
  row.version = rows.empty() ? 1 : rows.front().version + 1;
  row.status = "proposed";
  std::tie(row.protocol_ids, row.protocol_versions) = joined_ids(c.protocols);
  row.protocols_json = dump(c.protocols);
  row.plan_json = dump(c.plan);
  row.rationale_json = dump(c.rationale);
  row.created_at_ms = now_ms;
  row.id = txn.save_care_plan(row);
  out.proposed = std::move(row);
  out.changed = true;
  return out;
}

}  // namespace

json plan_content(const json& plan) {
  json c = plan;
  if (!c.is_object()) return c;
  c.erase("generated_at");
  c.erase("rationale");
  if (c.contains("follow_up") && c["follow_up"].is_object()) c["follow_up"].erase("due");
  if (c.contains("medication") && c["medication"].is_array())
    for (auto& m : c["medication"])
      if (m.is_object()) m.erase("reason");
  return c;
}

json plan_version_json(const store::CarePlanRow& r) {
  json decided_by = nullptr;
  if (r.decided_by) decided_by = {{"id", *r.decided_by}, {"name", r.decided_by_name}};
  json out{{"version", r.version},
           {"status", r.status},
           {"protocols", parse_or(r.protocols_json, json::array())},
           {"created_at", core::format_iso8601_utc(r.created_at_ms)},
           {"decided_by", decided_by},
           {"decided_at", iso_or_null(r.decided_at_ms).value_or(nullptr)},
           {"decision_note", r.decision_note ? json(*r.decision_note) : json(nullptr)},
           {"plan", parse_or(r.plan_json, json::object())},
           {"rationale", parse_or(r.rationale_json, json::array())},
           {"diff", r.diff_json ? parse_or(*r.diff_json, json::array()) : json(nullptr)},
           {"edited_from", r.edited_from ? json(*r.edited_from) : json(nullptr)}};
  return out;
}

json patient_plan_json(const store::CarePlanRow& r) {
  const json plan = parse_or(r.plan_json, json::object());
  return {{"version", r.version},
          {"approved_at", core::format_iso8601_utc(r.decided_at_ms.value_or(r.created_at_ms))},
          {"protocols", parse_or(r.protocols_json, json::array())},
          {"plan", plan},
          {"text",
           {{"zh-CN", protocols::render_for_patient(plan, protocols::Language::zh_cn)},
            {"en", protocols::render_for_patient(plan, protocols::Language::en)}}}};
}

// ---- Planner

core::Result<protocols::ProtocolSet> Planner::protocols_for_clinic(std::int64_t clinic_id) const {
  return library_->choose(store_.clinic_protocols(clinic_id));
}

std::vector<store::PatientWithState> Planner::with_states(std::span<const std::int64_t> ids, std::int64_t now_ms) const {
  return store_.patients_with_state(ids, now_ms - core::PatientState::retained_days * day_ms, now_ms + 1);
}

core::Result<std::optional<Planner::Candidate>> Planner::evaluate(const core::Patient& patient,
                                                                  const core::PatientState& state,
                                                                  const protocols::ProtocolSet& set,
                                                                  std::int64_t now_ms) const {
  // An anonymised record gets no plan: its processing stopped (PIPL Art. 47).
  if (set.protocols().empty() || patient.anonymised_at_ms) return std::optional<Candidate>();
  protocols::SnapshotContext ctx;
  for (const auto& s : store_.latest_risk_scores(patient.id))
    ctx.risk.push_back({s.model_id, s.probability, s.band == "high"});
  // Two consecutive uncontrolled visits are a referral criterion (CLINICAL §2).
  ctx.consecutive_uncontrolled_visits = consecutive_uncontrolled(store_.visits(patient.id, 16));
  const auto snapshot = protocols::make_snapshot(state, patient, ctx, now_ms);
  const auto plan = protocols::evaluate(snapshot, set);
  if (plan.protocols.empty()) return std::optional<Candidate>();
  Candidate c;
  c.patient_id = patient.id;
  c.clinic_id = patient.clinic_id;
  c.plan = protocols::to_json(plan);
  c.protocols = c.plan["protocols"];
  c.rationale = c.plan["rationale"];
  c.plan.erase("rationale");  // kept beside the plan (rationale_json)
  return std::optional<Candidate>(std::move(c));
}

core::Result<Planner::Proposal> Planner::propose(std::int64_t patient_id, std::int64_t now_ms) const {
  auto got = with_states({&patient_id, 1}, now_ms);
  if (got.empty()) return core::Error::not_found("patient " + std::to_string(patient_id) + " not found");
  const core::Patient* patient = &got.front().patient;
  auto set = protocols_for_clinic(patient->clinic_id);
  if (!set) return set.error();
  auto candidate = evaluate(*patient, got.front().state, *set, now_ms);
  if (!candidate) return candidate.error();
  if (!*candidate) {
    // Nothing applies: the current proposal, if any, stays as it is.
    Proposal out;
    if (const auto* p = with_status(store_.care_plans(patient_id), "proposed")) out.proposed = *p;
    return out;
  }
  auto result = std::make_shared<Proposal>();
  auto written = store::wait_for<core::Unit>([&](auto done) {
    store_.transact(
        [c = std::move(**candidate), result, now_ms](store::WriteTxn& txn) -> core::Status {
          *result = store_candidate(txn, c, now_ms);
          return core::Unit{};
        },
        std::move(done));
  });
  if (!written) return written.error();
  return std::move(*result);
}

core::Result<Planner::Summary> Planner::propose_all(std::int64_t now_ms, int batch,
                                                    const std::function<void(std::int64_t, std::int64_t)>& progress) const {
  Summary sum;
  std::int64_t total = 0;
  for (std::int64_t after = 0;;) {
    auto ids = store_.patient_ids(after, 100'000);
    if (ids.empty()) break;
    total += static_cast<std::int64_t>(ids.size());
    after = ids.back();
  }
  std::unordered_map<std::int64_t, protocols::ProtocolSet> sets;  // per clinic, for this run
  for (std::int64_t after = 0;;) {
    auto ids = store_.patient_ids(after, std::max(1, batch));
    if (ids.empty()) break;
    after = ids.back();
    std::vector<Candidate> candidates;
    for (const auto& w : with_states(ids, now_ms)) {  // removed patients are left out
      const core::Patient* patient = &w.patient;
      auto it = sets.find(patient->clinic_id);
      if (it == sets.end()) {
        auto set = protocols_for_clinic(patient->clinic_id);
        if (!set) {
          // A choice naming a protocol no longer loaded: that clinic waits, the others are planned.
          std::fprintf(stderr, "careloop care: clinic %lld: %s; its patients are not planned\n",
                       static_cast<long long>(patient->clinic_id), set.error().message.c_str());
          set = protocols::ProtocolSet();
        }
        it = sets.emplace(patient->clinic_id, std::move(*set)).first;
      }
      auto c = evaluate(*patient, w.state, it->second, now_ms);
      if (!c) return c.error();
      if (*c)
        candidates.push_back(std::move(**c));
      else
        ++sum.skipped;
    }
    auto counts = std::make_shared<std::pair<std::int64_t, std::int64_t>>();
    auto written = store::wait_for<core::Unit>([&](auto done) {
      store_.transact(
          [cs = std::move(candidates), counts, now_ms](store::WriteTxn& txn) -> core::Status {
            for (const auto& c : cs) (store_candidate(txn, c, now_ms).changed ? counts->first : counts->second)++;
            return core::Unit{};
          },
          std::move(done));
    });
    if (!written) return written.error();
    sum.proposed += counts->first;
    sum.unchanged += counts->second;
    sum.patients += static_cast<std::int64_t>(ids.size());
    if (progress) progress(sum.patients, total);
  }
  return sum;
}

// ---- Replanner

Replanner::Replanner(const Planner& planner, boost::asio::thread_pool& pool, std::chrono::milliseconds delay)
    : debouncer_(pool, core::DebouncerSettings{"replan", delay},
                 [&planner](std::int64_t patient_id) -> core::Status {
                   auto proposed = planner.propose(patient_id, core::now_utc_ms());
                   if (!proposed) return proposed.error();
                   return core::ok_status();
                 }) {}

void Replanner::schedule(std::int64_t patient_id) { debouncer_.schedule(patient_id); }
void Replanner::stop() { debouncer_.stop(); }
std::uint64_t Replanner::planned() const noexcept { return debouncer_.counts().done; }
core::DebouncerCounts Replanner::counts() const noexcept { return debouncer_.counts(); }

// ---- decisions

namespace {

const char* audit_action(PlanDecisionKind k) {
  switch (k) {
    case PlanDecisionKind::approve: return "care_plan.approve";
    case PlanDecisionKind::edit: return "care_plan.edit";
    case PlanDecisionKind::reject: return "care_plan.reject";
  }
  return "care_plan.decide";
}

core::Status apply(store::WriteTxn& txn, const ProtocolLibrary& library, const PlanDecision& d,
                   store::CarePlanRow& out) {
  if (d.kind == PlanDecisionKind::reject && d.note.empty())
    return core::Error::invalid("a rejection needs a reason", {{"/reason", "required: why the plan is rejected"}});
  auto rows = txn.care_plans(d.patient_id);
  const auto* found = with_version(rows, d.version);
  if (!found)
    return core::Error::not_found("patient " + std::to_string(d.patient_id) + " has no care plan version " +
                                  std::to_string(d.version));
  if (found->status != "proposed")
    return core::Error::conflict("care plan version " + std::to_string(d.version) + " is " + found->status +
                                 ", not proposed");
  store::CarePlanRow proposal = *found;
  const std::int64_t now = core::now_utc_ms();
  std::optional<std::string> note = d.note.empty() ? std::nullopt : std::optional<std::string>(d.note);
  json detail{{"version", d.version}};
  if (note) detail[d.kind == PlanDecisionKind::reject ? "reason" : "note"] = *note;

  // The approved version before this decision gives way (the unique index allows one).
  auto supersede_approved = [&] {
    if (const auto* a = with_status(rows, "approved")) {
      auto old = *a;
      old.status = "superseded";
      txn.save_care_plan(old);
    }
  };

  switch (d.kind) {
    case PlanDecisionKind::approve: {
      supersede_approved();
      proposal.status = "approved";
      proposal.decided_by = d.by_user_id;
      proposal.decided_at_ms = now;
      proposal.decision_note = note;
      txn.save_care_plan(proposal);
      txn.record_change(proposal.patient_id, proposal.clinic_id, "care_plan", proposal.id, now);
      out = std::move(proposal);
      break;
    }
    case PlanDecisionKind::reject: {
      proposal.status = "rejected";
      proposal.decided_by = d.by_user_id;
      proposal.decided_at_ms = now;
      proposal.decision_note = note;
      txn.save_care_plan(proposal);
      out = std::move(proposal);
      break;
    }
    case PlanDecisionKind::edit: {
      const json proposed_plan = parse_or(proposal.plan_json, json::object());
      auto edited = validate_edit(proposed_plan, d.edited_plan, library);
      if (!edited) return edited.error();
      const json patch = json::diff(proposed_plan, *edited);
      if (patch.empty())
        return core::Error::invalid("the edit changes nothing",
                                    {{"/plan", "the same as the proposal: approve it instead"}});
      supersede_approved();
      auto old = proposal;
      old.status = "superseded";
      txn.save_care_plan(old);
      store::CarePlanRow row;
      row.patient_id = proposal.patient_id;
      row.clinic_id = proposal.clinic_id;
      row.version = rows.front().version + 1;
      row.status = "approved";
      row.protocol_ids = proposal.protocol_ids;
      row.protocol_versions = proposal.protocol_versions;
      row.protocols_json = proposal.protocols_json;
      row.plan_json = dump(*edited);
      row.rationale_json = proposal.rationale_json;
      row.created_at_ms = now;
      row.decided_by = d.by_user_id;
      row.decided_at_ms = now;
      row.decision_note = note;
      row.diff_json = dump(patch);
      row.edited_from = proposal.version;
      row.id = txn.save_care_plan(row);
      txn.record_change(row.patient_id, row.clinic_id, "care_plan", row.id, now);
      detail["new_version"] = row.version;
      detail["diff"] = patch;
      out = std::move(row);
      break;
    }
  }
  store::AuditEntry audit;
  audit.at_ms = now;
  audit.actor_user_id = d.by_user_id;
  audit.action = audit_action(d.kind);
  audit.patient_id = d.patient_id;
  audit.clinic_id = proposal.clinic_id;
  audit.detail = dump(detail);
  audit.remote_addr = d.remote_addr;
  txn.append_audit(audit);
  return core::Unit{};
}

}  // namespace

void decide_plan(store::Store& st, std::shared_ptr<const ProtocolLibrary> library, PlanDecision d,
                 store::Completion<store::CarePlanRow> done) {
  auto out = std::make_shared<store::CarePlanRow>();
  st.transact(
      [d = std::move(d), library = std::move(library), out](store::WriteTxn& txn) -> core::Status {
        auto applied = apply(txn, *library, d, *out);
        if (applied) {
          // Reads of this job see its own writes: the name of who decided.
          for (const auto& r : txn.care_plans(d.patient_id))
            if (r.id == out->id) *out = r;
        }
        return applied;
      },
      [out, done = std::move(done)](core::Result<core::Unit> r) {
        if (!r) {
          done(r.error());
          return;
        }
        done(std::move(*out));
      });
}

core::Status set_clinic_protocols(store::Store& st, const ProtocolLibrary& library, std::int64_t clinic_id,
                                  const std::vector<std::string>& ids) {
  if (auto set = library.choose(ids); !set) return set.error();
  auto clinic = st.clinic(clinic_id);
  if (!clinic) return clinic.error();
  return store::wait_for<core::Unit>([&](auto done) {
    st.transact(
        [clinic_id, ids](store::WriteTxn& txn) -> core::Status {
          txn.set_clinic_protocols(clinic_id, ids);
          return core::Unit{};
        },
        std::move(done));
  });
}

}  // namespace careloop::care
