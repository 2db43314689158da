// careloop serve: opens the store, wires the routes and runs the server
// until SIGINT/SIGTERM, then drains the writer and closes the database.
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "careloop/care/care.hpp"
#include "careloop/care/plans.hpp"
#include "careloop/care/review.hpp"
#include "careloop/core/time.hpp"
#include "careloop/mobile_api/api.hpp"
#include "careloop/reports/rollup.hpp"
#include "careloop/risk/registry.hpp"
#include "careloop/scoring/digest.hpp"
#include "careloop/scoring/scorer.hpp"
#include "careloop/server/server.hpp"
#include "careloop/server/static_files.hpp"
#include "careloop/store/sqlite.hpp"
#include "careloop/webhooks/webhooks.hpp"
#include "settings.hpp"

namespace careloop::app {
namespace {

using std::chrono::milliseconds;

milliseconds ms(double seconds) { return milliseconds(static_cast<long long>(seconds * 1000)); }

// Writes the store's writer histograms in Prometheus text format.
void write_histogram(std::string& out, const char* name, const char* help, const std::vector<double>& bounds,
                     const std::vector<std::uint64_t>& counts, double sum) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
  char line[160];
  for (std::size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
    std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                  static_cast<unsigned long long>(counts[i]));
    out += line;
  }
  const unsigned long long total = counts.empty() ? 0 : counts.back();
  std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name, total, name, sum,
                name, total);
  out += line;
}

// The cards of the models in service, as /api/v1/models shows them.
nlohmann::json model_catalogue(const risk::ModelRegistry& registry) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : registry.models()) {
    const auto& spec = m->spec();
    nlohmann::json card = nlohmann::json::parse(std::ifstream(registry.directory() / spec.id / "card.json"), nullptr, false);
    nlohmann::json j{{"id", spec.id},
                     {"version", spec.version},
                     {"title", spec.title},
                     {"outcome", spec.outcome_description},
                     {"patient_scoring", spec.patient_scoring},
                     {"excludes_diagnoses", spec.excludes_diagnoses},
                     {"patient_outcome", spec.patient_outcome},
                     {"bands", {{"moderate_from", m->bands().moderate}, {"high_from", m->bands().high}}},
                     {"features", nlohmann::json::array()}};
    for (const auto& f : spec.features)
      j["features"].push_back({{"name", f.name}, {"label", f.label}, {"unit", f.unit}, {"min", f.min}, {"max", f.max}});
    j["card"] = card.is_discarded() ? nlohmann::json(nullptr) : card;
    out.push_back(std::move(j));
  }
  return out;
}

// The registry and the catalogue /api/v1/models shows, rebuilt together on
// load and reload (on a compute thread: it reads the card files) so requests
// only take a shared_ptr.
class Models {
 public:
  explicit Models(std::string dir) : dir_(std::move(dir)), registry_(dir_) {}
  void reload() {
    log_models(registry_.reload(), dir_);
    auto cards = std::make_shared<const nlohmann::json>(model_catalogue(registry_));
    std::lock_guard lock(m_);
    cards_ = std::move(cards);
  }
  std::shared_ptr<const nlohmann::json> cards() const {
    std::lock_guard lock(m_);
    return cards_;
  }
  risk::ModelRegistry& registry() { return registry_; }

 private:
  static void log_models(const risk::RegistryLoad& load, const std::string& dir) {
    for (const auto& m : load.loaded) std::fprintf(stderr, "careloop: risk model %s loaded\n", m.c_str());
    for (const auto& r : load.refused)
      std::fprintf(stderr, "careloop: risk model in %s refused: %s\n", r.folder.c_str(), r.error.message.c_str());
    if (load.loaded.empty()) std::fprintf(stderr, "careloop: no risk models in %s; risk scores are off\n", dir.c_str());
  }

  std::string dir_;
  risk::ModelRegistry registry_;
  mutable std::mutex m_;
  std::shared_ptr<const nlohmann::json> cards_;
};

struct Scoring {
  Models* models = nullptr;
  scoring::Rescorer* rescorer = nullptr;
  std::shared_ptr<const care::Planner> planner;
  care::Replanner* replanner = nullptr;
  care::Reviewer* reviewer = nullptr;
  webhooks::Deliverer* webhooks = nullptr;
};

// A job run once per interval on the compute pool (a run holds one compute
// thread while it works): every patient's care plan daily, the retention
// prune. A failed run (the store busy, full or closing) is logged at error
// and the next one comes at its time: each run covers everything, so nothing
// is lost but the interval. An exception must not end the pool's thread.
class Periodic {
 public:
  Periodic(std::string name, boost::asio::thread_pool& pool, std::chrono::milliseconds every,
           std::function<std::string()> run)
      : name_(std::move(name)), run_(std::move(run)), timer_(pool.get_executor()), every_(every) {}
  void start() { arm(); }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void arm() {
    timer_.expires_after(every_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      std::string failure;
      try {
        failure = run_();
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty())
        std::fprintf(stderr, "%s\n",
                     nlohmann::json{{"level", "error"}, {"msg", "background job failed"}, {"job", name_},
                                    {"error", failure}, {"then", stopped_ ? "stopped" : "next run at its time"},
                                    {"ts", core::format_iso8601_utc(core::now_utc_ms())}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                         .c_str());
      if (!stopped_) arm();
    });
  }

  std::string name_;
  std::function<std::string()> run_;  // "" on success, else why it failed
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds every_;
  std::atomic<bool> stopped_{false};
};

void add_all_routes(server::Router& router, store::Store& st, boost::asio::thread_pool& compute, const Settings& s,
                    std::shared_ptr<care::ClinicEventHub> hub, Scoring scoring = {}) {
  mobile_api::Config api;
  api.session_lifetime_ms = static_cast<std::int64_t>(s.session_hours * 3'600'000LL);
  api.staff_idle_ms = static_cast<std::int64_t>(s.staff_idle_minutes * 60'000);
  api.throttle.account_slow_after = s.login_slow_after;
  api.throttle.account_lock_after = s.login_lock_after;
  // An address may front a whole clinic's phones (NAT): it gets five times the room.
  api.throttle.address_slow_after = 5 * s.login_slow_after;
  api.throttle.address_lock_after = 5 * s.login_lock_after;
  api.throttle.lock_ms = static_cast<std::int64_t>(s.login_lock_minutes * 60'000);
  if (auto policy = webhook_policy(s)) api.webhook_policy = std::move(*policy);
  auto services = std::make_shared<mobile_api::Services>(st, compute, api);
  services->events = std::move(hub);
  if (auto cal = reports::Calendar::in_zone(s.report_time_zone))
    services->report_calendar = std::make_shared<const reports::Calendar>(std::move(*cal));
  if (auto* models = scoring.models) services->model_cards = [models] { return models->cards(); };
  services->planner = scoring.planner;
  auto* rescorer = scoring.rescorer;
  auto* replanner = scoring.replanner;
  if (rescorer || replanner)
    services->readings_stored = [rescorer, replanner](std::int64_t patient_id) {
      if (rescorer) rescorer->schedule(patient_id);
      if (replanner) replanner->schedule(patient_id);
    };
  // A visit changes the plan's referral facts and the follow-up due date.
  if (replanner || scoring.reviewer)
    services->visit_recorded = [replanner, reviewer = scoring.reviewer](std::int64_t patient_id) {
      if (replanner) replanner->schedule(patient_id);
      if (reviewer) reviewer->schedule(patient_id);
    };
  // Clinic measurements (waist, lipids, lab glucose) are model inputs.
  if (rescorer)
    services->measurements_recorded = [rescorer](std::int64_t patient_id) { rescorer->schedule(patient_id); };
  if (auto* deliverer = scoring.webhooks)
    services->webhook_changed = [deliverer](std::int64_t clinic_id) { deliverer->wake(clinic_id); };
  mobile_api::add_routes(router, services);
}

// The web app: the doctor's dashboard at / (its views are #/ routes), the
// patient page at /patient with what makes it an installable offline app (its
// web app manifest, icons and service worker, whose scope is /patient), and
// the build's assets. Registered whether or
// not the app is built, so the route table never depends on the build.
void add_web_routes(server::Router& router, const std::shared_ptr<const server::StaticFiles>& files) {
  using server::http::verb;
  router.add(verb::get, "/", server::StaticFiles::file(files, "index.html"));
  router.add(verb::get, "/patient", server::StaticFiles::file(files, "patient.html"));
  router.add(verb::get, "/assets/{*file}", server::StaticFiles::tree(files, "assets/", "file"));
  router.add(verb::get, "/patient.webmanifest", server::StaticFiles::file(files, "patient.webmanifest"));
  router.add(verb::get, "/patient-sw.js", server::StaticFiles::worker(files, "patient-sw.js"));
  router.add(verb::get, "/icons/{*file}", server::StaticFiles::tree(files, "icons/", "file"));
}

// Read into memory now, before serving: requests never touch the disk.
std::shared_ptr<const server::StaticFiles> load_web_app(const std::string& dir) {
  auto files = server::StaticFiles::load(dir);
  if (!files) {
    std::fprintf(stderr, "careloop: no web app (%s); build it with scripts/build (needs npm). / answers 404\n",
                 files.error().message.c_str());
    return server::StaticFiles::empty("The web app is not built: run scripts/build (it needs npm), or serve with "
                                      "--web-dir pointing at a built web/dist.");
  }
  std::fprintf(stderr, "careloop: web app from %s (%zu files, %zu bytes)\n", dir.c_str(), (*files)->size(),
               (*files)->total_bytes());
  return *files;
}

}  // namespace

std::string web_directory(const Settings& s) {
  if (!s.web_dir.empty()) return s.web_dir;
  if (std::filesystem::is_directory("web/dist")) return "web/dist";
  return std::string(CARELOOP_SOURCE_DIR) + "/web/dist";
}

std::string models_directory(const Settings& s) {
  if (!s.models_dir.empty()) return s.models_dir;
  if (std::filesystem::is_directory("data/models")) return "data/models";
  return std::string(CARELOOP_SOURCE_DIR) + "/data/models";
}

#ifndef CARELOOP_DEFAULT_PROTOCOLS_DIR
#define CARELOOP_DEFAULT_PROTOCOLS_DIR "protocols/library"
#endif

std::string protocols_dir(const Settings& s) {
  return s.protocols_dir.empty() ? std::string(CARELOOP_DEFAULT_PROTOCOLS_DIR) : s.protocols_dir;
}

int run_routes(const Settings& s) {
  store::SqliteOptions so;
  so.path = s.db_path;
  so.read_connections = 1;
  so.create_if_missing = false;
  auto opened = store::open_sqlite(so);
  if (!opened) {
    std::fprintf(stderr, "careloop: %s\n", opened.error().message.c_str());
    return 1;
  }
  boost::asio::thread_pool pool(1);
  server::Router router;
  add_all_routes(router, **opened, pool, s, std::make_shared<care::ClinicEventHub>(),
                 {nullptr, nullptr, std::make_shared<care::Planner>(**opened, care::ProtocolLibrary::empty()), nullptr});
  // The web app's routes are marked "static": they serve files, not the API the OpenAPI document describes.
  server::Router web;
  add_web_routes(web, server::StaticFiles::empty("not served by this command"));
  auto all = server::builtin_routes();
  for (auto& r : router.routes()) all.push_back(std::move(r));
  const std::size_t api_routes = all.size();
  for (auto& r : web.routes()) all.push_back(std::move(r));
  std::string out = "[\n";
  for (std::size_t i = 0; i < all.size(); ++i) {
    out += "  {\"method\": \"" + std::string(server::http::to_string(all[i].method)) + "\", \"path\": \"" +
           all[i].pattern + "\"" + (i >= api_routes ? ", \"static\": true" : "") + "}" +
           (i + 1 < all.size() ? ",\n" : "\n");
  }
  out += "]\n";
  std::fputs(out.c_str(), stdout);
  pool.join();
  (*opened)->close();
  return 0;
}

core::Result<webhooks::TargetPolicy> webhook_policy(const Settings& s) {
  webhooks::TargetPolicy p;
  p.allow_http = s.webhook_allow_http;
  auto allow = server::AddressSet::parse(s.webhook_allow);
  if (!allow) return allow.error();
  p.allow = std::move(*allow);
  return p;
}

int run_serve(const Settings& s) {
  // A file size limit reached (a quota, RLIMIT_FSIZE) must be a write error
  // the store reports and recovers from, not a signal that kills the server.
  std::signal(SIGXFSZ, SIG_IGN);
  if (!std::filesystem::exists(s.db_path)) {
    std::fprintf(stderr, "careloop: no database at %s (create one with 'careloop init' or 'careloop demo')\n",
                 s.db_path.c_str());
    return 1;
  }
  if (auto policy = webhook_policy(s); !policy) {
    std::fprintf(stderr, "careloop: --webhook-allow: %s\n", policy.error().message.c_str());
    return 1;
  }
  if (!s.webhook_ca.empty()) {
    boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
    boost::system::error_code ec;
    tls.load_verify_file(s.webhook_ca, ec);
    if (ec) {
      std::fprintf(stderr, "careloop: --webhook-ca %s: no PEM CA certificates (%s)\n", s.webhook_ca.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  store::SqliteOptions so;
  so.path = s.db_path;
  so.read_connections = s.read_connections;
  so.create_if_missing = false;
  auto opened = store::open_sqlite(so);
  if (!opened) {
    std::fprintf(stderr, "careloop: %s\n", opened.error().message.c_str());
    return 1;
  }
  std::shared_ptr<store::SqliteStore> st = std::move(*opened);

  // An invalid protocol stops the start: alerts must never silently not fire.
  const std::string dir = protocols_dir(s);
  std::optional<std::int64_t> escalate_ms;
  if (s.escalate_after_min > 0) escalate_ms = static_cast<std::int64_t>(s.escalate_after_min * 60'000);
  auto library = care::ProtocolLibrary::load(dir, s.protocols.empty() ? care::ProtocolLibrary::default_ids() : s.protocols,
                                             escalate_ms);
  if (!library) {
    std::fprintf(stderr, "careloop: %s\n", library.error().message.c_str());
    st->close();
    return 1;
  }
  auto hub = std::make_shared<care::ClinicEventHub>();
  auto calendar = reports::Calendar::in_zone(s.report_time_zone);
  if (!calendar) {
    std::fprintf(stderr, "careloop: %s\n", calendar.error().message.c_str());
    st->close();
    return 1;
  }

  server::ServerConfig config;
  config.address = s.bind;
  config.port = s.port;
  config.io_threads = s.io_threads;
  config.compute_threads = s.compute_threads;
  config.header_timeout = ms(s.header_timeout_s);
  config.idle_timeout = ms(s.idle_timeout_s);
  config.shutdown_deadline = ms(s.shutdown_deadline_s);
  config.max_connections = s.max_connections;
  config.max_connections_per_address = s.max_connections_per_address;
  config.trusted_proxies = s.trusted_proxies;
  config.metrics_from = s.metrics_from;
  config.tls_cert = s.tls_cert;
  config.tls_key = s.tls_key;

  auto metrics = std::make_shared<server::Metrics>();
  metrics->add_gauge("careloop_writer_queue_depth", "Write jobs waiting for the store's writer",
                     [st] { return static_cast<double>(st->writer_stats().queue_depth); });
  metrics->add_collector([](std::string& out) {
    const auto f = store::store_fault_counts();
    out += "# HELP careloop_store_errors_total Failures of the database itself, by kind (each logged at error)\n"
           "# TYPE careloop_store_errors_total counter\n";
    for (const auto& [kind, n] : {std::pair{"busy", f.busy}, {"full", f.full}, {"io", f.io}, {"other", f.other}})
      out += std::string("careloop_store_errors_total{kind=\"") + kind + "\"} " + std::to_string(n) + "\n";
  });
  metrics->add_collector([st](std::string& out) {
    const auto w = st->writer_stats();
    write_histogram(out, "careloop_commit_batch_jobs", "Write jobs committed per transaction (group commit)",
                    w.batch_size_bounds, w.batch_size_counts, w.batch_size_sum);
    write_histogram(out, "careloop_commit_duration_seconds", "Time to commit one transaction, fsync included",
                    w.commit_seconds_bounds, w.commit_seconds_counts, w.commit_seconds_sum);
  });

  auto router = std::make_shared<server::Router>();
  // The server (and its compute pool) must exist before the routes that use the pool.
  server::Server srv(config, router, metrics);

  // Risk models: loaded now, reloaded on SIGHUP (a refused model keeps its
  // previous version in service); patients are rescored 2 s after their
  // last upload, on the compute pool.
  Models models(models_directory(s));
  models.reload();
  // Risk alerts commit with the scores that open or clear them.
  scoring::Scorer scorer(*st, models.registry(),
                         [lib = *library, hub](store::WriteTxn& txn, const std::vector<store::StoredRiskScore>& scores) {
                           return care::apply_risk_alerts(txn, *lib, hub, scores, core::now_utc_ms());
                         });
  scoring::Rescorer rescorer(scorer, srv.compute(), std::chrono::seconds(2));
  // Critical rules in the writer's transaction; the warning tier over the
  // windows after the commit, debounced per patient, on the compute pool.
  care::Reviewer reviewer(*st, *library, hub, srv.compute(), ms(s.review_delay_s));
  // Critical alerts first (their hook hands the patient to the reviewer), then
  // the month rows reports read, then the state digests scoring reads: all in
  // the readings' transaction.
  st->set_readings_hook(std::make_shared<store::ReadingsHooks>(std::vector<std::shared_ptr<store::ReadingsHook>>{
      care::make_critical_alert_hook(*library, hub, [&reviewer](std::int64_t patient_id) { reviewer.schedule(patient_id); }),
      reports::make_rollup_hook(*calendar), scoring::make_digest_hook()}));
  // Timers and full reviews on a schedule, on the compute pool.
  care::ScheduleSettings schedule_settings;
  schedule_settings.interval = ms(s.alert_sweep_s);
  schedule_settings.full_every = ms(s.alert_full_sweep_min * 60);
  care::AlertSchedule schedule(*st, *library, hub, schedule_settings);
  srv.on_reload([&models] { models.reload(); });
  srv.on_stop([&rescorer, &reviewer] {
    rescorer.stop();
    reviewer.stop();
  });
  // Care plans: re-proposed 2 s after a patient's last upload and for every
  // patient once per --plans-every-hours, on the compute pool.
  auto planner = std::make_shared<const care::Planner>(*st, *library);
  care::Replanner replanner(*planner, srv.compute(), std::chrono::seconds(2));
  srv.on_stop([&replanner] { replanner.stop(); });
  std::unique_ptr<Periodic> daily;
  if (s.plans_every_hours > 0) {
    daily = std::make_unique<Periodic>("daily plans", srv.compute(), ms(s.plans_every_hours * 3600), [planner] {
      const auto started = std::chrono::steady_clock::now();
      auto sum = planner->propose_all(core::now_utc_ms(), 500, nullptr);
      if (!sum) return sum.error().message;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::fprintf(stderr, "careloop: daily care plans: %lld patients, %lld new proposals, in %.1f s\n",
                   static_cast<long long>(sum->patients), static_cast<long long>(sum->proposed), secs);
      return std::string();
    });
    daily->start();
    srv.on_stop([d = daily.get()] { d->stop(); });
  }
  // Retention (store::RetentionPolicy): ended sessions and old, delivered
  // clinic events, pruned every 6 hours.
  Periodic prune("retention prune", srv.compute(), std::chrono::hours(6), [st] {
    auto pruned = store::wait_for<store::PruneCounts>(
        [&](auto done) { st->prune(core::now_utc_ms(), store::RetentionPolicy{}, std::move(done)); });
    if (!pruned) return pruned.error().message;
    if (pruned->sessions + pruned->clinic_events > 0)
      std::fprintf(stderr, "careloop: retention: %lld ended sessions and %lld old clinic events pruned\n",
                   static_cast<long long>(pruned->sessions), static_cast<long long>(pruned->clinic_events));
    return std::string();
  });
  prune.start();
  srv.on_stop([&prune] { prune.stop(); });

  // Webhooks: each clinic's events POSTed to its URL from the durable outbox
  // (clinic_events), woken by the hub after a commit; stopped before the store closes.
  webhooks::Options wo;
  wo.backoff.initial = ms(s.webhook_retry_first_s);
  wo.backoff.max = ms(s.webhook_retry_max_s);
  wo.http.timeouts.resolve = ms(s.webhook_timeout_s);
  wo.http.timeouts.connect = ms(s.webhook_timeout_s);
  wo.http.timeouts.io = ms(s.webhook_timeout_s);
  wo.http.policy = webhook_policy(s).value();  // checked when serve began
  wo.http.ca_file = s.webhook_ca;
  wo.poll = ms(s.webhook_poll_s);
  webhooks::Deliverer deliverer(*st, srv.compute(), hub, wo);  // the CA file was checked when serve began
  srv.on_stop([&deliverer] { deliverer.stop(); });
  // /metrics is served only while srv runs, and srv stops before the deliverer goes.
  metrics->add_collector([&deliverer](std::string& out) {
    const auto c = deliverer.counters();
    out += "# HELP careloop_webhook_posts_total Webhook POSTs by outcome (2xx: delivered; else failed)\n"
           "# TYPE careloop_webhook_posts_total counter\n";
    out += "careloop_webhook_posts_total{outcome=\"delivered\"} " + std::to_string(c.delivered) + "\n";
    out += "careloop_webhook_posts_total{outcome=\"failed\"} " + std::to_string(c.failed) + "\n";
  });
  add_all_routes(*router, *st, srv.compute(), s, hub, {&models, &rescorer, planner, &replanner, &reviewer, &deliverer});
  add_web_routes(*router, load_web_app(web_directory(s)));

  if (auto started = srv.start(); !started) {
    std::fprintf(stderr, "careloop: %s\n", started.error().message.c_str());
    return 1;
  }
  srv.on_stop([st] { st->close(); });
  schedule.start(srv.compute());
  deliverer.start();
  srv.set_ready(true);
  std::fprintf(stderr, "careloop: protocols from %s\n", dir.c_str());
  std::fprintf(stderr, "careloop: serving %s on %s://%s:%u\n", s.db_path.c_str(), s.tls_cert.empty() ? "http" : "https",
               s.bind.c_str(), static_cast<unsigned>(srv.port()));
  srv.run();
  schedule.stop();
  deliverer.stop();
  st->close();
  return 0;
}

}  // namespace careloop::app
