#pragma once
// The mobile API v1 (/api/v1/auth/..., /api/v1/me/...): what phone apps and
// the patient web page call. Handlers are coroutines; every store read and
// password hash is offloaded to the compute pool, every write awaits the
// store's writer.
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "careloop/auth/login_throttle.hpp"
#include "careloop/care/care.hpp"
#include "careloop/care/plans.hpp"
#include "careloop/reports/calendar.hpp"
#include "careloop/mobile_api/patient_list.hpp"
#include "careloop/server/router.hpp"
#include "careloop/store/store.hpp"
#include "careloop/webhooks/webhooks.hpp"

namespace careloop::mobile_api {

// A grant of the separate consent to processing health data under the
// wording asked now (purpose, version, the wording's digest, "granted";
// patient, user and time left to the caller): for tools that create the
// accounts of patients who consented otherwise (the demo county).
store::ConsentRecord health_data_consent_grant();

// Argon2id (tens of ms and 64 MiB a hash) on threads of its own: a burst of
// sign-ins never holds the pool that serves reads. At most `threads` hashes
// run at once and `max_waiting` wait; beyond that a sign-in is answered 503
// with Retry-After rather than queued behind the others.
class HashingPool {
 public:
  HashingPool(int threads, int max_waiting);
  ~HashingPool();
  HashingPool(const HashingPool&) = delete;
  HashingPool& operator=(const HashingPool&) = delete;
  // A ticket while there is room (null when full); the room returns when it is dropped.
  std::shared_ptr<void> admit();
  boost::asio::thread_pool& pool() noexcept { return pool_; }

 private:
  boost::asio::thread_pool pool_;
  const int limit_;
  std::shared_ptr<std::atomic<int>> admitted_;
};

struct Config {
  int hashing_threads = 1;   // Argon2id at once (each takes 64 MiB)
  int hashing_waiting = 16;  // sign-ins that may wait for a hashing thread
  std::int64_t session_lifetime_ms = 30LL * 24 * 3600 * 1000;
  // A staff session (doctor, authority, admin) unused this long ends; 0: never.
  std::int64_t staff_idle_ms = 30LL * 60 * 1000;
  std::int64_t activation_lifetime_ms = 7LL * 24 * 3600 * 1000;  // a clinic's one-time code
  auth::ThrottlePolicy throttle;  // failed logins, activation codes, password changes
  // What a webhook URL may be (https unless allowed, no address inside the deployment unless named).
  webhooks::TargetPolicy webhook_policy;
};

struct Services {
  Services(store::Store& s, boost::asio::thread_pool& pool, Config c = {})
      : store(s),
        compute(pool),
        config(c),
        throttle(std::make_shared<auth::LoginThrottle>(c.throttle)),
        hashing(std::make_shared<HashingPool>(c.hashing_threads, c.hashing_waiting)) {}

  store::Store& store;
  boost::asio::thread_pool& compute;
  Config config;
  std::shared_ptr<auth::LoginThrottle> throttle;
  std::shared_ptr<HashingPool> hashing;
  // The risk models in service, as JSON [{id, version, title, outcome,
  // patient_outcome, bands, card}], built by app/ when the models load (never
  // per request: it reads the card files); null or empty when none.
  std::function<std::shared_ptr<const nlohmann::json>()> model_cards;
  // Called on an I/O thread after new readings of a patient are stored: must not block.
  std::function<void(std::int64_t patient_id)> readings_stored;
  // Wakes the clinics' live event streams after a commit; null: streams look every 15 s.
  std::shared_ptr<care::ClinicEventHub> events;
  // Proposes care plans and checks the doctor's edits against the protocols;
  // null: the care plan routes that need it answer 503.
  std::shared_ptr<const care::Planner> planner;
  // The reporting time zone's months (reports/); never null once routes are added.
  std::shared_ptr<const reports::Calendar> report_calendar;
  // Called on an I/O thread after a new visit of a patient was recorded (its
  // plan and follow-up alert are looked at again): must not block.
  std::function<void(std::int64_t patient_id)> visit_recorded;
  // Called on an I/O thread after new clinic measurements of a patient were
  // recorded (the patient is rescored): must not block.
  std::function<void(std::int64_t patient_id)> measurements_recorded;
  // Called on an I/O thread after a clinic's webhook was set or removed (the
  // deliverer looks at it now rather than at its next poll): must not block.
  std::function<void(std::int64_t clinic_id)> webhook_changed;
  // The patient list's rows between requests (GET /api/v1/clinic/patients).
  std::shared_ptr<PatientListCache> patient_list_cache = std::make_shared<PatientListCache>();
};

// The OpenAPI 3.1 document of these routes (mobile-api/openapi.json).
std::string_view openapi_document();

void add_routes(server::Router& router, std::shared_ptr<Services> services);

}  // namespace careloop::mobile_api
