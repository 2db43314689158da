#pragma once
// What every handler of the mobile API shares: who is calling and whether
// the policy lets them (auth::decide is the only judge), the audit trail of
// staff access, and the JSON shapes of users and patients.
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/auth/policy.hpp"
#include "careloop/mobile_api/api.hpp"
#include "careloop/mobile_api/principal.hpp"
#include "careloop/server/http.hpp"
#include "careloop/server/router.hpp"

namespace careloop::mobile_api::detail {

namespace asio = boost::asio;
using nlohmann::json;
using server::RequestContext;
using server::Response;

// How a refusal is written: problem+json for /api, OperationOutcome for /fhir.
enum class Dialect { problem, fhir };

Response refuse(Dialect d, server::http::status status, std::string_view detail);

// The principal allowed to do `p` to `r`, or the response refusing it
// (401 without a valid token, 403 when the policy says no).
asio::awaitable<std::variant<Principal, Response>> authorize(RequestContext& ctx, Services& svc, auth::Permission p,
                                                            auth::Resource r, Dialect d = Dialect::problem);

// For a patient's own routes (/api/v1/me/...): the patient's principal, or
// 401 without a valid token and 403 for staff.
asio::awaitable<std::variant<Principal, Response>> patient_self(RequestContext& ctx, Services& svc, auth::Permission p);

// A patient's own upload of health data needs the separate consent (PIPL
// Art. 29): nullopt when the newest decision grants it, else the 403
// (type .../consent-required) to answer; nothing is to be stored then.
asio::awaitable<std::optional<Response>> require_health_data_consent(Services& svc, std::int64_t patient_id,
                                                                     Dialect d = Dialect::problem);
// The same question, blocking (from the compute pool).
bool health_data_consent_granted(Services& svc, std::int64_t patient_id);
inline constexpr std::string_view consent_required_type = "https://careloop.example/problems/consent-required";
inline constexpr std::string_view consent_required_detail =
    "consent to processing health data is not granted (or was withdrawn): the patient grants it in the app "
    "(POST /api/v1/me/consent) before readings can be sent";

// For staff routes about one patient ({id} in the path): authenticates,
// refuses roles that can never have `p` before looking anything up (so a
// patient cannot probe which ids exist), then loads the patient (404) and
// asks the policy with the patient's clinic (403).
struct PatientAccess {
  Principal who;
  core::Patient patient;
};
asio::awaitable<std::variant<PatientAccess, Response>> authorize_patient(RequestContext& ctx, Services& svc,
                                                                        auth::Permission p, std::int64_t patient_id,
                                                                        Dialect d = Dialect::problem);
// authorize_patient for the patient of the path's {id}: an id that is not a
// number is a 404, after a 401 for an anonymous caller.
asio::awaitable<std::variant<PatientAccess, Response>> patient_of_path(RequestContext& ctx, Services& svc,
                                                                      auth::Permission p);

// Writes the audit entry of a staff action before the data leaves: when the
// trail cannot be written the request is refused (503), never served unaudited.
asio::awaitable<std::optional<Response>> audit(RequestContext& ctx, Services& svc, const core::User& actor,
                                               std::string action, std::optional<std::int64_t> patient_id,
                                               std::optional<std::int64_t> clinic_id, std::string detail = "",
                                               Dialect d = Dialect::problem);

// The peer's address without the port (the login throttle counts per address).
std::string remote_address(const RequestContext& ctx);

// Writes an "access.refused" audit entry (without waiting for it): who asked
// for which patient's record, by which route, and why it was refused. The
// patient is named only when its record exists (another clinic's).
void note_refusal(const RequestContext& ctx, Services& svc, const core::User& actor, std::int64_t asked_patient_id,
                  std::optional<std::int64_t> patient_id, std::optional<std::int64_t> clinic_id, std::string_view why);

json user_json(const core::User& u);
json patient_json(const core::Patient& p);

std::optional<std::int64_t> parse_int(std::string_view s);
// An integer query parameter within [lo, hi]: its value, nullopt when absent,
// or an error named /query/NAME appended to `errors` (then nullopt too).
std::optional<std::int64_t> int_param(const RequestContext& ctx, std::string_view name, std::int64_t lo,
                                      std::int64_t hi, std::string_view why, std::vector<core::FieldError>& errors);
std::optional<std::int64_t> path_id(const RequestContext& ctx, std::string_view name = "id");
std::optional<std::string> string_field(const json& body, const char* name);
Response invalid_field(const char* pointer, std::string detail);
Response invalid_fields(std::vector<core::FieldError> errors, std::string_view title = "Invalid request");
// Appends "/KEY: unknown field" to `errors` for each member of the object
// `body` that `known` does not name.
void add_unknown_fields(const json& body, std::span<const std::string_view> known, std::vector<core::FieldError>& errors);

// POST .../readings for one patient: parses the batch, stores the valid
// items, answers one result per item. `source_default` fills an empty source.
asio::awaitable<Response> store_readings(RequestContext& ctx, Services& svc, std::int64_t patient_id,
                                         std::string_view source_default);

// Tells app/ (Services::readings_stored) that the patient has new readings,
// when any outcome is a new row. Cheap: runs on the I/O thread.
void notify_stored(Services& svc, std::int64_t patient_id, const std::vector<store::InsertOutcome>& outcomes);

// GET .../readings?kind=&from=&to=&limit=&cursor= for one patient.
asio::awaitable<Response> list_readings(RequestContext& ctx, Services& svc, std::int64_t patient_id);

}  // namespace careloop::mobile_api::detail
