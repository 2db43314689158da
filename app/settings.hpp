#pragma once
// Settings of the careloop command. Each comes from a flag, a CARELOOP_*
// environment variable or the config file, in that order of precedence.
#include <cstdint>
#include <string>
#include <vector>

#include "careloop/core/result.hpp"
#include "careloop/webhooks/webhooks.hpp"

namespace careloop::app {

struct Settings {
  std::string db_path = "var/careloop.db";
  // Months of reports are calendar months in this IANA zone (rollups, reports, CLI).
  std::string report_time_zone = "Asia/Shanghai";
  // serve
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;
  int io_threads = 0;       // 0 = one per core
  int compute_threads = 0;  // 0 = one per core
  int read_connections = 4;
  std::string web_dir;      // the built web app; empty = web/dist here, else in the source tree
  std::string protocols_dir;  // empty = protocols/library of the source tree this binary was built from
  std::vector<std::string> protocols;  // ids of the protocols in use, one per programme; empty = the defaults
  double plans_every_hours = 24;  // every patient's care plan re-evaluated this often; 0 = only after readings
  std::string models_dir;   // risk models; empty = data/models here, else in the source tree
  std::string tls_cert, tls_key;
  double shutdown_deadline_s = 10;
  double header_timeout_s = 10;
  double idle_timeout_s = 60;
  int max_connections = 10000;           // lowered at start to fit the descriptor limit (logged)
  int max_connections_per_address = 256;  // 0: no cap per address
  std::vector<std::string> trusted_proxies;  // CIDR blocks whose Forwarded / X-Forwarded-For are read
  std::vector<std::string> metrics_from{"127.0.0.0/8", "::1/128"};  // who may read /metrics
  std::int64_t session_hours = 24 * 30;  // bearer token lifetime
  double staff_idle_minutes = 30;        // a staff session unused this long ends; 0: never
  // Login throttle (auth::ThrottlePolicy); per address the limits are 5x the account's.
  int login_slow_after = 3;
  int login_lock_after = 10;
  double login_lock_minutes = 15;
  // Alerts after the commit and on a schedule (care/review.hpp).
  double review_delay_s = 2;           // a patient's review waits this long after its last upload
  double alert_sweep_s = 60;           // timers: escalation, snooze ends
  double alert_full_sweep_min = 60;    // full reviews: cleared conditions, stale data, follow-up overdue
  double escalate_after_min = 0;       // critical alert unacknowledged this long escalates; 0 = the protocols' (120)
  // Webhook delivery (webhooks/): back-off after a failure (doubling from
  // the first to the cap), the deadline of each network step, and the poll
  // that catches what a wake-up missed.
  double webhook_retry_first_s = 1;
  double webhook_retry_max_s = 300;
  double webhook_timeout_s = 10;
  double webhook_poll_s = 5;
  // Where a webhook may go: https:// only, and never to an address inside the
  // deployment (loopback, private, link-local, ...) unless one of these names it.
  bool webhook_allow_http = false;
  std::vector<std::string> webhook_allow;  // CIDR blocks a webhook may reach although they are inside
  std::string webhook_ca;                  // PEM CA certificates trusted for webhook receivers besides the system's
};

int run_serve(const Settings& s);
// The webhook target policy the settings name; an error names a bad --webhook-allow block.
core::Result<webhooks::TargetPolicy> webhook_policy(const Settings& s);
// The risk models folder the settings name, or the default.
std::string models_directory(const Settings& s);
// Prints every route `serve` answers as JSON [{method, path}] (the OpenAPI test reads it).
int run_routes(const Settings& s);
// The built web app's folder the settings name, or the default.
std::string web_directory(const Settings& s);
// The protocols folder in use: the setting, else the source tree's protocols/library.
std::string protocols_dir(const Settings& s);

}  // namespace careloop::app
