// careloop: the one program of CareLoop (DESIGN §2).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "careloop/auth/password.hpp"
#include "careloop/care/plans.hpp"
#include "careloop/care/care.hpp"
#include "careloop/care/review.hpp"
#include "careloop/core/time.hpp"
#include "careloop/demo/county.hpp"
#include "careloop/mobile_api/api.hpp"
#include "careloop/protocols/protocol.hpp"
#include "careloop/reports/report.hpp"
#include "careloop/reports/rollup.hpp"
#include "careloop/risk/registry.hpp"
#include "careloop/scoring/digest.hpp"
#include "careloop/scoring/scorer.hpp"
#include "careloop/store/state_rebuild.hpp"
#include "careloop/store/store.hpp"
#include "careloop/webhooks/webhooks.hpp"
#include "risk_commands.hpp"
#include "settings.hpp"

#ifndef CARELOOP_VERSION
#define CARELOOP_VERSION "0.0.0"
#endif

namespace {

using namespace careloop;

int fail(const std::string& what) {
  std::fprintf(stderr, "careloop: %s\n", what.c_str());
  return 1;
}

int fail(const core::Error& e) {
  std::string msg = e.message;
  for (const auto& f : e.fields) msg += "\n  " + (f.pointer.empty() ? std::string("-") : f.pointer) + ": " + f.detail;
  return fail(msg);
}

core::Result<std::unique_ptr<store::Store>> open_store(const app::Settings& s, bool create) {
  if (create) {
    const auto parent = std::filesystem::path(s.db_path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  } else if (!std::filesystem::exists(s.db_path)) {
    return core::Error::not_found("no database at " + s.db_path + " (create one with 'careloop init' or 'careloop demo')");
  }
  store::Options o;
  o.path = s.db_path;
  o.read_connections = s.read_connections;
  o.create_if_missing = create;
  return store::open_sqlite(o);
}

// Reads a password from stdin: the first line, without its newline. Never from argv,
// where other users of the machine could read it in the process list.
std::string read_password() {
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "password: ");
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Fills the options that neither a flag nor a CARELOOP_* variable set from the
// config file, so the precedence is flag > environment > file > default.
// (CLI11's own config support ranks the file above the environment.)
core::Status apply_config_file(CLI::App& cli, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigINI().from_file(path);
  } catch (const CLI::Error& e) {
    return core::Error::invalid(path + ": " + e.what());
  }
  for (const auto& item : items) {
    CLI::App* scope = &cli;
    for (const auto& parent : item.parents) {
      CLI::App* sub = nullptr;
      try {
        sub = scope->get_subcommand(parent);
      } catch (const CLI::Error&) {
      }
      if (!sub) return core::Error::invalid(path + ": unknown section [" + parent + "]");
      scope = sub;
    }
    CLI::Option* opt = scope->get_option_no_throw("--" + item.name);
    if (!opt) return core::Error::invalid(path + ": unknown setting '" + item.name + "'");
    if (opt->count() > 0) continue;  // a flag or the environment already decided
    for (const auto& v : item.inputs) opt->add_result(v);
    try {
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return core::Error::invalid(path + ": " + item.name + ": " + e.what());
    }
  }
  return core::ok_status();
}

std::string iso_or_dash(const std::optional<std::int64_t>& ms) {
  return ms ? core::format_iso8601_utc(*ms) : "-";
}

// An audit entry of the command line (actor 0: the operator at the machine).
store::AuditEntry cli_audit(std::string action, std::string detail = {}) {
  store::AuditEntry e;
  e.at_ms = core::now_utc_ms();
  e.actor_user_id = 0;
  e.action = std::move(action);
  e.detail = std::move(detail);
  e.remote_addr = "command line";
  return e;
}

// careloop user deactivate|reactivate|revoke-sessions --username NAME, audited.
int user_access_command(store::Store& st, const std::string& which, const std::string& username) {
  auto user = st.user_by_username(username);
  if (!user) {
    std::fprintf(stderr, "careloop: %s\n", user.error().message.c_str());
    return 1;
  }
  const std::string detail = "{\"user_id\": " + std::to_string(user->id) + "}";
  if (which == "revoke-sessions") {
    auto n = store::wait_for<std::int64_t>(
        [&](auto done) { st.revoke_user_sessions(user->id, cli_audit("user.sessions.revoke", detail), std::move(done)); });
    if (!n) {
      std::fprintf(stderr, "careloop: %s\n", n.error().message.c_str());
      return 1;
    }
    std::printf("%s: %lld session(s) ended\n", user->username.c_str(), static_cast<long long>(*n));
    return 0;
  }
  const bool active = which == "reactivate";
  auto changed = store::wait_for<core::User>([&](auto done) {
    st.set_user_active(user->id, active, cli_audit(active ? "user.reactivate" : "user.deactivate", detail),
                       std::move(done));
  });
  if (!changed) {
    std::fprintf(stderr, "careloop: %s\n", changed.error().message.c_str());
    return 1;
  }
  std::printf("%s: %s\n", changed->username.c_str(), changed->active ? "active" : "deactivated, signed out everywhere");
  return 0;
}

// careloop clinic webhook: set, disable or show; a change is audited (actor 0: the command line).
int webhook_command(store::Store& st, std::int64_t clinic_id, const std::string& url, const std::string& secret_file,
                    bool disable, const app::Settings& s) {
  store::AuditEntry audit = cli_audit("clinic.webhook");
  audit.clinic_id = clinic_id;
  if (!url.empty()) {
    auto policy = app::webhook_policy(s);
    if (!policy) return fail("--webhook-allow: " + policy.error().message);
    if (auto parsed = webhooks::check_url(url, *policy); !parsed) return fail(parsed.error());
    std::ifstream in(secret_file, std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return fail("cannot read " + secret_file);
    if (!secret.empty() && secret.back() == '\n') secret.pop_back();
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (secret.size() < 16) return fail(secret_file + ": the secret must have at least 16 characters");
    audit.action = "clinic.webhook.set";
    audit.detail = "{\"url\": \"" + url + "\"}";
    auto set = store::wait_for<store::ClinicWebhook>(
        [&](auto done) { st.set_webhook(clinic_id, url, secret, audit, std::move(done)); });
    if (!set) return fail(set.error());
  } else if (disable) {
    audit.action = "clinic.webhook.disable";
    auto off = store::wait_for<store::ClinicWebhook>([&](auto done) { st.disable_webhook(clinic_id, audit, std::move(done)); });
    if (!off) return fail(off.error());
  }
  const auto w = st.webhook(clinic_id);
  if (!w) return fail("clinic " + std::to_string(clinic_id) + " has no webhook");
  std::printf("clinic %lld webhook %s %s\ndelivered up to event %lld, %lld pending, %d failed attempts\n"
              "last error: %s\nnext attempt: %s\nlast delivered: %s\n",
              static_cast<long long>(w->clinic_id), w->url.c_str(), w->enabled ? "enabled" : "disabled",
              static_cast<long long>(w->delivered_seq), static_cast<long long>(w->pending_events), w->attempts,
              w->last_error.empty() ? "-" : w->last_error.c_str(), iso_or_dash(w->next_attempt_ms).c_str(),
              iso_or_dash(w->last_delivered_at_ms).c_str());
  return 0;
}

std::int64_t today_in_shanghai() {
  return (core::now_utc_ms() + 8 * 3'600'000LL) / 86'400'000LL;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything careloop creates (the database, its WAL, backups, exports)
  // holds health data: readable by the service's user only.
  umask(077);
  app::Settings s;
  CLI::App cli{"CareLoop — chronic-disease management for community clinics.\n"
               "Patients log blood pressure, glucose, weight and pulse; clinics see who needs care today.",
               "careloop"};
  cli.set_version_flag("--version", std::string("careloop ") + CARELOOP_VERSION);
  std::string config_file;
  cli.add_option("--config", config_file, "Read settings from this file (INI/TOML: key = value, [serve] section)")
      ->envname("CARELOOP_CONFIG")->check(CLI::ExistingFile);
  cli.add_option("--db", s.db_path, "SQLite database file")->envname("CARELOOP_DB")->capture_default_str();
  cli.add_option("--report-timezone", s.report_time_zone, "IANA time zone whose calendar months reports count in")
      ->envname("CARELOOP_REPORT_TIMEZONE")->capture_default_str();
  cli.require_subcommand(1);
  cli.footer("Settings: a flag beats a CARELOOP_* environment variable, which beats the config file.\n"
             "Example: careloop --db var/careloop.db serve --port 8080");

  auto* serve = cli.add_subcommand("serve", "Serve the APIs, live events and dashboard on one port");
  serve->add_option("--bind", s.bind, "Address to listen on (beyond loopback, serve HTTPS: --tls-cert, --tls-key)")
      ->envname("CARELOOP_BIND")->capture_default_str();
  serve->add_option("--port", s.port, "TCP port")->envname("CARELOOP_PORT")->capture_default_str();
  serve->add_option("--io-threads", s.io_threads, "I/O threads (0 = one per core)")->envname("CARELOOP_IO_THREADS");
  serve->add_option("--compute-threads", s.compute_threads, "Threads for database reads, hashing and scoring (0 = one per core)")
      ->envname("CARELOOP_COMPUTE_THREADS");
  serve->add_option("--read-connections", s.read_connections, "SQLite read connections")
      ->envname("CARELOOP_READ_CONNECTIONS")->capture_default_str();
  serve->add_option("--web-dir", s.web_dir, "Folder of the built web app (default web/dist here, else in the source tree)")
      ->envname("CARELOOP_WEB_DIR");
  serve->add_option("--protocols-dir", s.protocols_dir, "Folder of protocol files (default: the source tree's protocols/library)")
      ->envname("CARELOOP_PROTOCOLS_DIR");
  serve->add_option("--protocols", s.protocols, "Protocol ids in use, one per programme (default: cn-hypertension-primary-2020 cn-diabetes-primary-2022)")
      ->envname("CARELOOP_PROTOCOLS")->delimiter(',');
  serve->add_option("--plans-every-hours", s.plans_every_hours,
                    "Re-evaluate every patient's care plan this often (0: only after new readings)")
      ->envname("CARELOOP_PLANS_EVERY_HOURS")->capture_default_str()->check(CLI::Range(0.0, 24.0 * 365));
  serve->add_option("--tls-cert", s.tls_cert,
                    "PEM certificate chain: serve HTTPS (TLS 1.2+, HSTS) with --tls-key; SIGHUP reloads both files")
      ->envname("CARELOOP_TLS_CERT");
  serve->add_option("--tls-key", s.tls_key, "PEM private key of --tls-cert (keep it readable by the service user only)")
      ->envname("CARELOOP_TLS_KEY");
  serve->add_option("--shutdown-deadline", s.shutdown_deadline_s, "Seconds to finish in-flight requests on SIGTERM")
      ->envname("CARELOOP_SHUTDOWN_DEADLINE")->capture_default_str();
  serve->add_option("--header-timeout", s.header_timeout_s, "Seconds allowed to send request headers")
      ->envname("CARELOOP_HEADER_TIMEOUT")->capture_default_str();
  serve->add_option("--idle-timeout", s.idle_timeout_s, "Seconds an idle keep-alive connection stays open")
      ->envname("CARELOOP_IDLE_TIMEOUT")->capture_default_str();
  serve->add_option("--max-connections", s.max_connections, "Most connections open at once")
      ->envname("CARELOOP_MAX_CONNECTIONS")->capture_default_str();
  serve->add_option("--max-connections-per-address", s.max_connections_per_address,
                    "Most connections one client address may hold (a clinic behind NAT shares one); 0: no cap")
      ->envname("CARELOOP_MAX_CONNECTIONS_PER_ADDRESS")->capture_default_str();
  serve->add_option("--trusted-proxy", s.trusted_proxies,
                    "A reverse proxy (IP or CIDR block, repeatable) whose Forwarded / X-Forwarded-For name the client; "
                    "from anyone else those headers are ignored")
      ->envname("CARELOOP_TRUSTED_PROXY")->delimiter(',');
  serve->add_option("--metrics-from", s.metrics_from,
                    "Who may read /metrics (IP or CIDR block, repeatable); elsewhere it answers 404")
      ->envname("CARELOOP_METRICS_FROM")->delimiter(',')->capture_default_str();
  serve->add_option("--session-hours", s.session_hours, "Lifetime of a login token, in hours")
      ->envname("CARELOOP_SESSION_HOURS")->capture_default_str();
  serve->add_option("--staff-idle-minutes", s.staff_idle_minutes,
                    "A doctor's, authority's or admin's session unused this long ends (0: never)")
      ->envname("CARELOOP_STAFF_IDLE_MINUTES")->capture_default_str()->check(CLI::Range(0.0, 7.0 * 24 * 60));
  serve->add_option("--login-slow-after", s.login_slow_after, "Failed logins of one account before answers slow down")
      ->envname("CARELOOP_LOGIN_SLOW_AFTER")->capture_default_str();
  serve->add_option("--login-lock-after", s.login_lock_after, "Failed logins of one account before it is refused for a while")
      ->envname("CARELOOP_LOGIN_LOCK_AFTER")->capture_default_str();
  serve->add_option("--login-lock-minutes", s.login_lock_minutes, "How long a refused account or address waits")
      ->envname("CARELOOP_LOGIN_LOCK_MINUTES")->capture_default_str();
  serve->add_option("--review-delay", s.review_delay_s, "Seconds after a patient's last upload before its warning-tier review")
      ->envname("CARELOOP_REVIEW_DELAY")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  serve->add_option("--alert-sweep", s.alert_sweep_s, "Seconds between runs of the alert timers (escalation, snooze ends)")
      ->envname("CARELOOP_ALERT_SWEEP")->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  serve->add_option("--alert-full-sweep", s.alert_full_sweep_min,
                    "Minutes between full reviews of patients with open alerts, stale data or an overdue follow-up")
      ->envname("CARELOOP_ALERT_FULL_SWEEP")->capture_default_str()->check(CLI::Range(0.01, 10080.0));
  serve->add_option("--escalate-after", s.escalate_after_min,
                    "Minutes before an unacknowledged critical alert escalates (0 = the protocols' setting, 120)")
      ->envname("CARELOOP_ESCALATE_AFTER")->capture_default_str()->check(CLI::Range(0.0, 10080.0));

  serve->add_option("--webhook-retry-first", s.webhook_retry_first_s, "Seconds before a failed webhook delivery is retried (doubles per failure)")
      ->envname("CARELOOP_WEBHOOK_RETRY_FIRST")->capture_default_str();
  serve->add_option("--webhook-retry-max", s.webhook_retry_max_s, "Longest wait between webhook retries, in seconds")
      ->envname("CARELOOP_WEBHOOK_RETRY_MAX")->capture_default_str();
  serve->add_option("--webhook-timeout", s.webhook_timeout_s, "Seconds allowed to connect, and to send and read, per webhook delivery")
      ->envname("CARELOOP_WEBHOOK_TIMEOUT")->capture_default_str();
  serve->add_option("--webhook-poll", s.webhook_poll_s, "Seconds between looks at every webhook when nothing wakes delivery")
      ->envname("CARELOOP_WEBHOOK_POLL")->capture_default_str();
  // The same two settings on `clinic webhook`, which checks a URL before storing it.
  auto webhook_target_options = [&s](CLI::App* cmd) {
    cmd->add_flag("--webhook-allow-http", s.webhook_allow_http,
                  "Allow http:// webhook URLs (patient data in clear: only for a gateway on a trusted LAN); "
                  "otherwise https:// only")
        ->envname("CARELOOP_WEBHOOK_ALLOW_HTTP");
    cmd->add_option("--webhook-allow", s.webhook_allow,
                    "An address (IP or CIDR block, repeatable) a webhook may reach although it is inside the "
                    "deployment: loopback, private, link-local, CGNAT, multicast and reserved addresses are refused "
                    "otherwise, checked on every address a name resolves to at every connection")
        ->envname("CARELOOP_WEBHOOK_ALLOW")->delimiter(',');
  };
  webhook_target_options(serve);
  serve->add_option("--webhook-ca", s.webhook_ca,
                    "PEM file of CA certificates trusted for https webhook receivers besides the system's")
      ->envname("CARELOOP_WEBHOOK_CA")->check(CLI::ExistingFile);

  auto* init = cli.add_subcommand("init", "Create an empty database (or bring an existing one to the current schema)");

  demo::Options demo_opts;
  std::string logins_file;
  auto* demo_cmd = cli.add_subcommand("demo", "Create a database holding the seeded demo county");
  demo_cmd->add_option("--seed", demo_opts.seed, "Random seed; the same seed and end day give the same county")
      ->capture_default_str();
  demo_cmd->add_option("--patients", demo_opts.patients, "Patients to generate")->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  demo_cmd->add_option("--clinics", demo_opts.clinics, "Clinics")->capture_default_str()->check(CLI::Range(1, 1000));
  demo_cmd->add_option("--days", demo_opts.days, "Days of home readings")->capture_default_str()->check(CLI::Range(1, 3650));
  std::string end_date;
  demo_cmd->add_option("--end-date", end_date, "Last day of readings, YYYY-MM-DD (default: today in Asia/Shanghai)");
  demo_cmd->add_option("--logins", logins_file, "Also write the demo logins to this file");

  auto* region = cli.add_subcommand("region", "Manage the region tree (province → city → district → community)");
  region->require_subcommand(1);
  std::string r_name, r_level = "community", r_code;
  std::int64_t r_parent = 0;
  auto* region_add = region->add_subcommand("add", "Add a region and print its id");
  region_add->add_option("--name", r_name, "Name")->required();
  region_add->add_option("--level", r_level, "province, city, district or community")->capture_default_str()
      ->check(CLI::IsMember({"province", "city", "district", "community"}));
  region_add->add_option("--code", r_code, "Administrative division code");
  region_add->add_option("--parent", r_parent, "Parent region id (none for a province)");
  auto* region_list = region->add_subcommand("list", "List the regions");

  auto* clinic = cli.add_subcommand("clinic", "Manage clinics");
  clinic->require_subcommand(1);
  store::NewClinic c_new;
  auto* clinic_add = clinic->add_subcommand("add", "Add a clinic and print its id");
  clinic_add->add_option("--name", c_new.name, "Name")->required();
  clinic_add->add_option("--region", c_new.region_id, "Region id the clinic serves")->required();
  clinic_add->add_option("--timezone", c_new.timezone, "IANA time zone")->capture_default_str();
  auto* clinic_list = clinic->add_subcommand("list", "List the clinics");
  std::int64_t cp_clinic = 0;
  std::string cp_set;
  bool cp_set_given = false;
  auto* clinic_protocols = clinic->add_subcommand(
      "protocols", "Show a clinic's protocols, or choose them with --set (an empty --set '' returns to the deployment's set)");
  clinic_protocols->add_option("--clinic", cp_clinic, "Clinic id")->required();
  clinic_protocols->add_option("--set", cp_set, "Comma-separated protocol ids, one per programme")
      ->each([&cp_set_given](const std::string&) { cp_set_given = true; });
  clinic_protocols->add_option("--protocols-dir", s.protocols_dir, "Folder of protocol files (default: the one serve uses)")
      ->envname("CARELOOP_PROTOCOLS_DIR");
  clinic_protocols->add_option("--protocols", s.protocols, "The deployment's protocol ids (default: as serve)")
      ->envname("CARELOOP_PROTOCOLS")->delimiter(',');
  std::int64_t w_clinic = 0;
  std::string w_url, w_secret_file;
  bool w_disable = false;
  auto* clinic_webhook = clinic->add_subcommand(
      "webhook", "Set (--url, --secret-file), disable (--disable) or show a clinic's webhook; a new one starts "
                 "with the events after this moment");
  clinic_webhook->add_option("--clinic", w_clinic, "Clinic id")->required();
  auto* w_url_opt = clinic_webhook->add_option(
      "--url", w_url, "https:// URL the clinic's events are POSTed to (http:// only with --webhook-allow-http)");
  auto* w_secret_opt = clinic_webhook->add_option("--secret-file", w_secret_file,
                                                  "File holding the signing secret (16+ characters; one trailing newline is dropped)")
                           ->check(CLI::ExistingFile);
  w_url_opt->needs(w_secret_opt);
  w_secret_opt->needs(w_url_opt);
  clinic_webhook->add_flag("--disable", w_disable, "Stop delivering (keeps the URL and secret)")->excludes(w_url_opt);
  webhook_target_options(clinic_webhook);

  auto* user = cli.add_subcommand("user", "Manage users");
  user->require_subcommand(1);
  std::string u_role, u_username, u_name;
  std::int64_t u_clinic = 0, u_region = 0, u_patient = 0;
  auto* user_add = user->add_subcommand("add", "Add a user; the password is read from stdin");
  user_add->add_option("--role", u_role, "patient, doctor, authority or admin")->required()
      ->check(CLI::IsMember({"patient", "doctor", "authority", "admin"}));
  user_add->add_option("--username", u_username, "Login name")->required();
  user_add->add_option("--name", u_name, "Display name");
  user_add->add_option("--clinic", u_clinic, "Clinic id (doctor, patient)");
  user_add->add_option("--region", u_region, "Region id (authority)");
  user_add->add_option("--patient", u_patient, "Patient record id (patient)");
  auto* user_list = user->add_subcommand("list", "List the users");
  std::string access_username;
  std::vector<std::pair<std::string, CLI::App*>> user_access;
  for (const auto& [name, what] : {std::pair{"deactivate", "Deactivate an account: it cannot sign in, its sessions end"},
                                   {"reactivate", "Let a deactivated account sign in again"},
                                   {"revoke-sessions", "End every session of an account (a lost phone or PC)"}}) {
    auto* sub = user->add_subcommand(name, what);
    sub->add_option("--username", access_username, "Login name")->required();
    user_access.emplace_back(name, sub);
  }

  std::string backup_file;
  auto* backup = cli.add_subcommand("backup", "Copy the live database to FILE with SQLite's online backup");
  backup->add_option("FILE", backup_file, "Backup file to create (must not exist)")->required();

  auto* protocols_cmd = cli.add_subcommand("protocols", "Clinical protocol files");
  protocols_cmd->require_subcommand(1);
  std::string check_dir;
  auto* protocols_check = protocols_cmd->add_subcommand("check", "Validate every protocol file of DIR; print each error, exit 1 if any");
  protocols_check->add_option("DIR", check_dir, "Folder of protocol files (default: the one serve uses)");

  auto* routes = cli.add_subcommand("routes", "Print every route the server answers, as JSON [{method, path}]");

  bool score_all = false;
  std::int64_t score_patient = 0;
  int score_batch = 1000;
  auto* score = cli.add_subcommand("score", "Score patients with the risk models and store the scores");
  score->add_flag("--all", score_all, "Every patient, in batches");
  score->add_option("--patient", score_patient, "One patient (prints its scores and why a model did not apply)");
  score->add_option("--models", s.models_dir, "Risk models folder (default data/models)")->envname("CARELOOP_MODELS");
  score->add_option("--batch", score_batch, "Patients per write with --all")->capture_default_str()->check(CLI::Range(1, 100000));

  auto* plans = cli.add_subcommand("plans", "Care plans");
  plans->require_subcommand(1);
  bool plans_all = false;
  std::int64_t plans_patient = 0;
  int plans_batch = 500;
  auto* plans_propose = plans->add_subcommand(
      "propose", "Evaluate care plans now; store a new proposed version where the plan changed");
  plans_propose->add_flag("--all", plans_all, "Every patient, in batches");
  plans_propose->add_option("--patient", plans_patient, "One patient (prints its proposed version)");
  plans_propose->add_option("--batch", plans_batch, "Patients per write with --all")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  plans_propose->add_option("--protocols-dir", s.protocols_dir, "Folder of protocol files (default: the one serve uses)")
      ->envname("CARELOOP_PROTOCOLS_DIR");
  plans_propose->add_option("--protocols", s.protocols, "The deployment's protocol ids (default: as serve)")
      ->envname("CARELOOP_PROTOCOLS")->delimiter(',');

  std::int64_t rep_region = 0, rep_clinic = 0;
  std::string rep_month, rep_format = "json", rep_table = "indicators";
  auto* report_cmd = cli.add_subcommand("report", "Population indicators of a region or clinic for a month (CLINICAL §4)");
  report_cmd->add_option("--region", rep_region, "Region id");
  report_cmd->add_option("--clinic", rep_clinic, "Clinic id");
  report_cmd->add_option("--month", rep_month, "Month, YYYY-MM (default: the current month)");
  report_cmd->add_option("--format", rep_format, "json, csv or fhir")->capture_default_str()
      ->check(CLI::IsMember({"json", "csv", "fhir"}));
  report_cmd->add_option("--table", rep_table, "With --format csv: indicators, trend, cohorts or alerts")
      ->capture_default_str()->check(CLI::IsMember({"indicators", "trend", "cohorts", "alerts"}));
  auto* report_rebuild = report_cmd->add_subcommand("rebuild", "Recompute every patient's month rows from its readings");
  auto* state_cmd = cli.add_subcommand("state", "The per-patient state the writer keeps (patient_state)");
  state_cmd->require_subcommand(1);
  int state_batch = 500;
  auto* state_rebuild = state_cmd->add_subcommand(
      "rebuild", "Fold every patient's readings into a fresh saved state (for readings written without the server's hooks)");
  state_rebuild->add_option("--batch", state_batch, "Patients per write")->capture_default_str()->check(CLI::Range(1, 100000));
  auto* alerts_cmd = cli.add_subcommand("alerts", "Alerts of the protocols");
  alerts_cmd->require_subcommand(1);
  bool review_all = false;
  std::int64_t review_patient = 0;
  int review_batch = 200;
  auto* alerts_review = alerts_cmd->add_subcommand(
      "review", "Run the full evaluation (every tier, stale data, follow-up, risk) and store the alerts");
  alerts_review->add_flag("--all", review_all, "Every patient");
  alerts_review->add_option("--patient", review_patient, "One patient");
  alerts_review->add_option("--batch", review_batch, "Patients per write")->capture_default_str()->check(CLI::Range(1, 10000));
  for (auto* c : {alerts_review, score}) {
    c->add_option("--protocols-dir", s.protocols_dir, "Folder of protocol files (default: the source tree's protocols/library)")
        ->envname("CARELOOP_PROTOCOLS_DIR");
    c->add_option("--protocols", s.protocols, "Protocol ids in use, one per programme")->envname("CARELOOP_PROTOCOLS")->delimiter(',');
  }

  app::add_risk_commands(cli);
  CLI11_PARSE(cli, argc, argv);
  if (!config_file.empty()) {
    if (auto applied = apply_config_file(cli, config_file); !applied) return fail(applied.error());
  }
  auth::init();

  if (serve->parsed()) return app::run_serve(s);
  if (protocols_check->parsed()) {
    const std::string dir = check_dir.empty() ? app::protocols_dir(s) : check_dir;
    const auto errors = protocols::check_directory(dir);
    for (const auto& e : errors) std::printf("%s\n", protocols::format(e).c_str());
    if (!errors.empty()) return 1;
    std::printf("%s: every protocol is valid\n", dir.c_str());
    return 0;
  }
  if (routes->parsed()) return app::run_routes(s);

  const bool creates = init->parsed() || demo_cmd->parsed();
  if (demo_cmd->parsed() && std::filesystem::exists(s.db_path))
    return fail(s.db_path + " already exists; the demo county goes into a new database");
  auto calendar = reports::Calendar::in_zone(s.report_time_zone);
  if (!calendar) return fail(calendar.error());
  auto opened = open_store(s, creates);
  if (!opened) return fail(opened.error());
  auto& st = **opened;

  if (init->parsed()) {
    std::printf("%s: schema version %d\n", s.db_path.c_str(), st.schema_version());
  } else if (demo_cmd->parsed()) {
    if (end_date.empty()) {
      demo_opts.end_day = today_in_shanghai();
    } else if (auto d = core::parse_date_days(end_date)) {
      demo_opts.end_day = *d;
    } else {
      return fail("--end-date must be YYYY-MM-DD");
    }
    const bool tty = isatty(STDERR_FILENO);
    demo_opts.progress = [tty](int done, int total) {
      if (tty) std::fprintf(stderr, "\rdemo: %d/%d patients", done, total);
      if (tty && done == total) std::fprintf(stderr, "\n");
    };
    const auto started = std::chrono::steady_clock::now();
    demo_opts.patient_consent = mobile_api::health_data_consent_grant();
    auto summary = demo::generate_county(st, demo_opts, [](const std::string& pw) { return auth::hash_password(pw); });
    if (!summary) return fail(summary.error());
    // The generator writes without the server's hooks: build the month rows reports read,
    // and the kept states batch work (scoring, reviews, plans) reads instead of the readings.
    auto rolled = reports::rebuild(st, *calendar);
    if (!rolled) return fail(rolled.error());
    auto states = store::rebuild_patient_states(st, 500, {}, scoring::save_digest);
    if (!states) return fail(states.error());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("demo county: %d regions, %d clinics, %d users, %d patients, %lld readings, %lld clinic "
                "measurements in %.1f s (seed %llu, ending %s)\n",
                summary->regions, summary->clinics, summary->users, summary->patients,
                static_cast<long long>(summary->readings), static_cast<long long>(summary->measurements), secs, static_cast<unsigned long long>(demo_opts.seed),
                core::format_date(demo_opts.end_day).c_str());
    std::string table;
    for (const auto& l : summary->logins)
      table += l.role + "\t" + l.username + "\t" + l.password + "\t" + l.note + "\n";
    if (!logins_file.empty()) {
      std::ofstream out(logins_file);
      out << "role\tusername\tpassword\twho\n" << table;
      if (!out) return fail("could not write " + logins_file);
    }
  } else if (region_add->parsed()) {
    store::NewRegion r{r_parent ? std::optional<std::int64_t>(r_parent) : std::nullopt, r_name,
                       *core::parse_region_level(r_level), r_code};
    auto id = store::wait_for<std::int64_t>([&](auto done) { st.add_region(std::move(r), std::move(done)); });
    if (!id) return fail(id.error());
    std::printf("%lld\n", static_cast<long long>(*id));
  } else if (region_list->parsed()) {
    for (const auto& r : st.regions())
      std::printf("%lld\t%s\t%s\t%s\t%s\n", static_cast<long long>(r.id),
                  r.parent_id ? std::to_string(*r.parent_id).c_str() : "-", std::string(core::to_string(r.level)).c_str(),
                  r.code.c_str(), r.name.c_str());
  } else if (clinic_add->parsed()) {
    auto id = store::wait_for<std::int64_t>([&](auto done) { st.add_clinic(c_new, std::move(done)); });
    if (!id) return fail(id.error());
    std::printf("%lld\n", static_cast<long long>(*id));
  } else if (clinic_list->parsed()) {
    for (const auto& c : st.clinics())
      std::printf("%lld\t%lld\t%s\t%s\n", static_cast<long long>(c.id), static_cast<long long>(c.region_id),
                  c.timezone.c_str(), c.name.c_str());
  } else if (clinic_protocols->parsed() || plans_propose->parsed()) {
    const std::string dir = app::protocols_dir(s);
    auto library = care::ProtocolLibrary::load(dir, s.protocols.empty() ? care::ProtocolLibrary::default_ids() : s.protocols);
    if (!library) return fail(library.error());
    if (clinic_protocols->parsed()) {
      if (cp_set_given) {
        std::vector<std::string> ids;
        for (std::size_t at = 0; at <= cp_set.size();) {
          const auto comma = std::min(cp_set.find(',', at), cp_set.size());
          if (comma > at) ids.push_back(cp_set.substr(at, comma - at));
          at = comma + 1;
        }
        if (auto set = care::set_clinic_protocols(st, **library, cp_clinic, ids); !set) return fail(set.error());
      } else if (auto clinic_row = st.clinic(cp_clinic); !clinic_row) {
        return fail(clinic_row.error());
      }
      const auto chosen = st.clinic_protocols(cp_clinic);
      auto set = (*library)->choose(chosen);
      if (!set) return fail("clinic " + std::to_string(cp_clinic) + ": " + set.error().message);
      std::printf("clinic %lld: %s\n", static_cast<long long>(cp_clinic),
                  chosen.empty() ? "no choice, the deployment's set" : "its own choice");
      for (const auto* p : set->protocols())
        std::printf("%s\t%s\t%s\t%s\n", p->id.c_str(), p->version.c_str(), p->programme.c_str(), p->title.c_str());
    } else {
      if (plans_all == (plans_patient != 0)) return fail("say --all or --patient ID");
      care::Planner planner(st, *library);
      const auto now = core::now_utc_ms();
      if (plans_patient) {
        auto p = planner.propose(plans_patient, now);
        if (!p) return fail(p.error());
        if (!p->proposed) {
          std::printf("patient %lld: no protocol applies; no proposal\n", static_cast<long long>(plans_patient));
        } else {
          std::printf("patient %lld: version %d %s (%s)\n%s\n", static_cast<long long>(plans_patient), p->proposed->version,
                      p->proposed->status.c_str(), p->changed ? "new" : "unchanged", p->proposed->plan_json.c_str());
        }
      } else {
        const bool tty = isatty(STDERR_FILENO);
        const auto started = std::chrono::steady_clock::now();
        auto summary = planner.propose_all(now, plans_batch, [tty, started](std::int64_t done, std::int64_t total) {
          if (!tty) return;
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          const int width = 30;
          const int filled = total ? static_cast<int>(width * done / total) : width;
          std::fprintf(stderr, "\rplans: [%s%s] %lld/%lld patients, %.0f/s",
                       std::string(static_cast<std::size_t>(filled), '#').c_str(),
                       std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<long long>(done),
                       static_cast<long long>(total), secs > 0 ? static_cast<double>(done) / secs : 0.0);
          if (done == total) std::fprintf(stderr, "\n");
        });
        if (!summary) return fail(summary.error());
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::printf("planned %lld patients: %lld new proposals, %lld unchanged, %lld without an applicable protocol, "
                    "in %.1f s (%.0f patients/s)\n",
                    static_cast<long long>(summary->patients), static_cast<long long>(summary->proposed),
                    static_cast<long long>(summary->unchanged), static_cast<long long>(summary->skipped), secs,
                    secs > 0 ? static_cast<double>(summary->patients) / secs : 0.0);
      }
    }
  } else if (clinic_webhook->parsed()) {
    if (auto code = webhook_command(st, w_clinic, w_url, w_secret_file, w_disable, s); code != 0) {
      st.close();
      return code;
    }
  } else if (user_add->parsed()) {
    core::User u;
    u.username = u_username;
    u.role = *core::parse_role(u_role);
    u.display_name = u_name.empty() ? u_username : u_name;
    if (u_clinic) u.clinic_id = u_clinic;
    if (u_region) u.region_id = u_region;
    if (u_patient) u.patient_id = u_patient;
    if ((u.role == core::Role::doctor || u.role == core::Role::patient) && !u.clinic_id)
      return fail("a " + u_role + " belongs to a clinic: give --clinic ID");
    if (u.role == core::Role::patient && !u.patient_id)
      return fail("a patient account is for a patient record: give --patient ID");
    if (u.role == core::Role::authority && !u.region_id) return fail("an authority covers a region: give --region ID");
    const std::string password = read_password();
    if (auto ok = auth::check_password_rules(password); !ok) return fail(ok.error());
    auto hash = auth::hash_password(password);
    if (!hash) return fail(hash.error());
    store::NewUser nu{u, *hash};
    auto id = store::wait_for<std::int64_t>([&](auto done) { st.add_user(std::move(nu), std::move(done)); });
    if (!id) return fail(id.error());
    auto audited = store::wait_for<core::Unit>([&](auto done) {
      st.append_audit(cli_audit("user.create", "{\"user_id\": " + std::to_string(*id) + ", \"role\": \"" + u_role + "\"}"),
                      std::move(done));
    });
    if (!audited) return fail(audited.error());
    std::printf("%lld\n", static_cast<long long>(*id));
  } else if (score->parsed()) {
    if (score_all == (score_patient != 0)) return fail("say --all or --patient ID");
    const auto dir = app::models_directory(s);
    risk::ModelRegistry registry(dir);
    const auto load = registry.reload();
    for (const auto& r : load.refused) std::fprintf(stderr, "careloop: model in %s refused: %s\n", r.folder.c_str(), r.error.message.c_str());
    if (load.loaded.empty()) return fail("no risk model could be loaded from " + dir);
    // Risk alerts are written with the scores, as the server does.
    auto library = care::ProtocolLibrary::load(app::protocols_dir(s), s.protocols.empty() ? care::ProtocolLibrary::default_ids() : s.protocols);
    if (!library) return fail(library.error());
    scoring::Scorer scorer(st, registry, [lib = *library](store::WriteTxn& txn, const std::vector<store::StoredRiskScore>& scores) {
      return care::apply_risk_alerts(txn, *lib, nullptr, scores, core::now_utc_ms());
    });
    const auto now = core::now_utc_ms();
    if (score_patient) {
      auto scored = scorer.rescore(score_patient, now);
      if (!scored) return fail(scored.error());
      for (const auto& x : scored->scores)
        std::printf("%s %s\t%.4f\t%s\t%s\n", x.model_id.c_str(), x.model_version.c_str(), x.probability, x.band.c_str(),
                    x.factors_json.c_str());
      for (const auto& k : scored->skipped) std::printf("%s\tnot scored: %s\n", k.model_id.c_str(), k.reason.c_str());
    } else {
      const bool tty = isatty(STDERR_FILENO);
      const auto started = std::chrono::steady_clock::now();
      auto summary = scorer.score_all(now, score_batch, [tty, started](std::int64_t done, std::int64_t total) {
        if (!tty) return;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const int width = 30;
        const int filled = total ? static_cast<int>(width * done / total) : width;
        std::fprintf(stderr, "\rscore: [%s%s] %lld/%lld patients, %.0f/s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<long long>(done),
                     static_cast<long long>(total), secs > 0 ? static_cast<double>(done) / secs : 0.0);
        if (done == total) std::fprintf(stderr, "\n");
      });
      if (!summary) return fail(summary.error());
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::printf("scored %lld patients: %lld scores stored, %lld (patient, model) pairs not applicable, in %.1f s (%.0f patients/s)\n",
                  static_cast<long long>(summary->patients), static_cast<long long>(summary->scores),
                  static_cast<long long>(summary->skipped), secs, secs > 0 ? static_cast<double>(summary->patients) / secs : 0.0);
    }
  } else if (alerts_review->parsed()) {
    if (review_all == (review_patient != 0)) return fail("say --all or --patient ID");
    auto library = care::ProtocolLibrary::load(app::protocols_dir(s), s.protocols.empty() ? care::ProtocolLibrary::default_ids() : s.protocols);
    if (!library) return fail(library.error());
    const auto now = core::now_utc_ms();
    std::vector<std::int64_t> ids;
    if (review_patient) {
      ids.push_back(review_patient);
    } else {
      for (std::int64_t after = 0;;) {
        auto page = st.patient_ids(after, 100'000);
        if (page.empty()) break;
        after = page.back();
        ids.insert(ids.end(), page.begin(), page.end());
      }
    }
    const bool tty = isatty(STDERR_FILENO);
    const auto started = std::chrono::steady_clock::now();
    care::ReviewOutcome total;
    const std::size_t step = static_cast<std::size_t>(review_batch);
    for (std::size_t i = 0; i < ids.size(); i += step) {
      const std::vector<std::int64_t> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                            ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + step)));
      auto r = care::review_patients(st, *library, nullptr, chunk, now, review_batch);
      if (!r) return fail(r.error());
      total.patients += r->patients;
      total.events += r->events;
      if (!tty) continue;
      const std::size_t done = std::min(ids.size(), i + step);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const int width = 30;
      const int filled = static_cast<int>(width * done / ids.size());
      std::fprintf(stderr, "\ralerts: [%s%s] %zu/%zu patients, %.0f/s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done, ids.size(),
                   secs > 0 ? static_cast<double>(done) / secs : 0.0);
      if (done == ids.size()) std::fprintf(stderr, "\n");
    }
    if (review_patient && total.patients == 0) return fail("patient " + std::to_string(review_patient) + " not found");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("reviewed %lld patients: %lld alert events in %.1f s (%.0f patients/s)\n", static_cast<long long>(total.patients),
                static_cast<long long>(total.events), secs, secs > 0 ? static_cast<double>(total.patients) / secs : 0.0);
  } else if (user_list->parsed()) {
    for (const auto& u : st.users()) {
      std::string scope = u.clinic_id ? "clinic " + std::to_string(*u.clinic_id)
                          : u.region_id ? "region " + std::to_string(*u.region_id) : "-";
      std::printf("%lld\t%s\t%s\t%s\t%s\t%s\n", static_cast<long long>(u.id), std::string(core::to_string(u.role)).c_str(),
                  u.username.c_str(), scope.c_str(), u.display_name.c_str(), u.active ? "active" : "deactivated");
    }
  } else if (state_rebuild->parsed()) {
    const auto started = std::chrono::steady_clock::now();
    const bool tty = isatty(STDERR_FILENO);
    auto rebuilt = store::rebuild_patient_states(st, state_batch, [tty](std::int64_t done, std::int64_t total) {
      if (tty) std::fprintf(stderr, "\rstate: %lld/%lld patients", static_cast<long long>(done), static_cast<long long>(total));
      if (tty && done == total) std::fprintf(stderr, "\n");
    }, scoring::save_digest);
    if (!rebuilt) return fail(rebuilt.error());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("state rebuild: %lld patients, %lld states saved from %lld readings in %.1f s\n",
                static_cast<long long>(rebuilt->patients), static_cast<long long>(rebuilt->states),
                static_cast<long long>(rebuilt->readings), secs);
  } else if (report_rebuild->parsed()) {
    const auto started = std::chrono::steady_clock::now();
    auto rolled = reports::rebuild(st, *calendar);
    if (!rolled) return fail(rolled.error());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("report rebuild: %lld patients, %lld month rows (%s) in %.1f s\n", static_cast<long long>(rolled->patients),
                static_cast<long long>(rolled->rows), calendar->zone_name().c_str(), secs);
  } else if (report_cmd->parsed()) {
    if ((rep_region != 0) == (rep_clinic != 0)) return fail("say --region ID or --clinic ID");
    int month = calendar->current_month(core::now_utc_ms());
    if (!rep_month.empty()) {
      auto m = reports::parse_month(rep_month);
      if (!m) return fail("--month must be YYYY-MM");
      month = *m;
    }
    const auto type = rep_region ? reports::UnitType::region : reports::UnitType::clinic;
    auto built = reports::build_report(st, *calendar, type, rep_region ? rep_region : rep_clinic, month, core::now_utc_ms());
    if (!built) return fail(built.error());
    const std::string out = rep_format == "csv"    ? reports::to_csv(*built, rep_table)
                            : rep_format == "fhir" ? reports::to_fhir(*built)
                                                   : reports::to_json_text(*built);
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (rep_format != "csv") std::fputc('\n', stdout);
  } else if (backup->parsed()) {
    if (auto ok = st.backup_to(backup_file); !ok) return fail(ok.error());
    // A backup is a copy of every record: who made it, and where, is kept.
    auto audited = store::wait_for<core::Unit>([&](auto done) {
      st.append_audit(cli_audit("backup.create", nlohmann::json{{"file", backup_file}}.dump(
                                                     -1, ' ', false, nlohmann::json::error_handler_t::replace)),
                      std::move(done));
    });
    if (!audited) return fail(audited.error());
    std::printf("backed up %s to %s\n", s.db_path.c_str(), backup_file.c_str());
  } else {
    for (const auto& [name, sub] : user_access)
      if (sub->parsed()) {
        const int code = user_access_command(st, name, access_username);
        st.close();
        return code;
      }
  }
  st.close();
  return 0;
}
