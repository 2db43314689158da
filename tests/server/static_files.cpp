#include "careloop/server/static_files.hpp"

#include <catch2/catch.hpp>

#include <fstream>

#include "run_sync.hpp"
#include "temp_dir.hpp"

using namespace careloop;
using server::http::field;
using server::http::status;
using server::http::verb;

namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A built app the way Vite lays it out, plus things that must never be served.
struct App {
  testing::TempDir dir{"static"};
  std::filesystem::path root = dir.path() / "dist";
  App() {
    write(root / "index.html", "<!doctype html><title>dashboard</title>");
    write(root / "patient.html", "<!doctype html><title>patient</title>");
    write(root / "assets/index-B3xk9aQz.js", "console.log(1)");
    write(root / "assets/style-Dq_2-x7Z.css", "body{}");
    write(root / "assets/logo.svg", "<svg/>");
    write(root / "patient.webmanifest", R"({"name": "x"})");
    write(root / "patient-sw.js", "self.addEventListener('fetch', () => {})");
    write(root / "icons/maskable-512.png", "PNG");
    write(root / ".env", "SECRET=1");
    write(dir.path() / "secret.txt", "outside the root");
    std::filesystem::create_symlink(dir.path() / "secret.txt", root / "assets/link-AAAAAAAA.txt");
  }
};

server::Router router_for(std::shared_ptr<const server::StaticFiles> files) {
  server::Router r;
  r.add(verb::get, "/", server::StaticFiles::file(files, "index.html"));
  r.add(verb::get, "/patient", server::StaticFiles::file(files, "patient.html"));
  r.add(verb::get, "/assets/{*file}", server::StaticFiles::tree(files, "assets/", "file"));
  r.add(verb::get, "/patient.webmanifest", server::StaticFiles::file(files, "patient.webmanifest"));
  r.add(verb::get, "/patient-sw.js", server::StaticFiles::worker(files, "patient-sw.js"));
  r.add(verb::get, "/icons/{*file}", server::StaticFiles::tree(files, "icons/", "file"));
  return r;
}

server::Response get(const server::Router& r, std::string target, std::string if_none_match = {}) {
  server::Request req{verb::get, target, 11};
  if (!if_none_match.empty()) req.set(field::if_none_match, if_none_match);
  auto ctx = server::make_context(std::move(req));
  REQUIRE(ctx);
  return testing::run_sync(r.dispatch(*ctx));
}

}  // namespace

TEST_CASE("static files: entry points are HTML with the CSP and no-cache", "[static]") {
  App app;
  auto files = server::StaticFiles::load(app.root);
  REQUIRE(files);
  auto r = router_for(*files);
  for (const char* target : {"/", "/patient", "/?lang=en"}) {
    auto res = get(r, target);
    INFO(target);
    CHECK(res.result() == status::ok);
    CHECK(res[field::content_type] == "text/html; charset=utf-8");
    CHECK(res[field::cache_control] == "no-cache");
    CHECK(res["Content-Security-Policy"] == server::default_content_security_policy);
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK_FALSE(res[field::etag].empty());
  }
  CHECK(get(r, "/patient").body() == "<!doctype html><title>patient</title>");
  const auto csp = std::string(server::default_content_security_policy);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
}

TEST_CASE("static files: hashed assets are immutable, others revalidate", "[static]") {
  App app;
  auto r = router_for(*server::StaticFiles::load(app.root));
  auto js = get(r, "/assets/index-B3xk9aQz.js");
  CHECK(js.result() == status::ok);
  CHECK(js[field::content_type] == "text/javascript; charset=utf-8");
  CHECK(js[field::cache_control] == "public, max-age=31536000, immutable");
  CHECK(js["X-Content-Type-Options"] == "nosniff");
  CHECK(js["Content-Security-Policy"].empty());
  CHECK(js.body() == "console.log(1)");
  auto css = get(r, "/assets/style-Dq_2-x7Z.css");
  CHECK(css[field::content_type] == "text/css; charset=utf-8");
  CHECK(css[field::cache_control] == "public, max-age=31536000, immutable");
  auto svg = get(r, "/assets/logo.svg");
  CHECK(svg[field::content_type] == "image/svg+xml");
  CHECK(svg[field::cache_control] == "no-cache");
}

TEST_CASE("static files: the patient page's manifest, icons and service worker revalidate, with their types", "[static]") {
  App app;
  auto r = router_for(*server::StaticFiles::load(app.root));
  auto manifest = get(r, "/patient.webmanifest");
  CHECK(manifest.result() == status::ok);
  CHECK(manifest[field::content_type] == "application/manifest+json");
  CHECK(manifest[field::cache_control] == "no-cache");
  auto sw = get(r, "/patient-sw.js");
  CHECK(sw.result() == status::ok);
  CHECK(sw[field::content_type] == "text/javascript; charset=utf-8");
  // Never immutable: the browser's update check must see a new build's worker.
  CHECK(sw[field::cache_control] == "no-cache");
  CHECK(sw["Content-Security-Policy"] == server::default_content_security_policy);
  CHECK(sw["X-Content-Type-Options"] == "nosniff");
  CHECK(sw.body() == "self.addEventListener('fetch', () => {})");
  const auto tag = std::string(sw[field::etag]);
  auto again = get(r, "/patient-sw.js", tag);
  CHECK(again.result() == status::not_modified);
  CHECK(again["Content-Security-Policy"] == server::default_content_security_policy);
  // "maskable-512" ends in 8 letters but lies outside assets/: not taken for a hashed name.
  auto icon = get(r, "/icons/maskable-512.png");
  CHECK(icon.result() == status::ok);
  CHECK(icon[field::content_type] == "image/png");
  CHECK(icon[field::cache_control] == "no-cache");
  CHECK(get(r, "/icons/").result() == status::not_found);
  CHECK(get(r, "/icons/../patient.html").result() == status::not_found);
  // An app without the worker: 404, and no CSP promised for nothing.
  auto none = router_for(server::StaticFiles::empty("not built"));
  CHECK(get(none, "/patient-sw.js").result() == status::not_found);
}

TEST_CASE("static files: If-None-Match with the current ETag is 304 without a body", "[static]") {
  App app;
  auto r = router_for(*server::StaticFiles::load(app.root));
  const auto tag = std::string(get(r, "/")[field::etag]);
  auto again = get(r, "/", tag);
  CHECK(again.result() == status::not_modified);
  CHECK(again.body().empty());
  CHECK(get(r, "/", "\"0000000000000000\"").result() == status::ok);
  // Another file has another tag.
  CHECK(get(r, "/patient")[field::etag] != tag);
}

TEST_CASE("static files: no path leads outside the loaded files", "[static]") {
  App app;
  auto files = server::StaticFiles::load(app.root);
  REQUIRE(files);
  auto r = router_for(*files);
  for (const char* target : {"/assets/../index.html", "/assets/%2e%2e/index.html", "/assets/..%2fsecret.txt",
                             "/assets/%2e%2e%2f%2e%2e%2fsecret.txt", "/assets/../../secret.txt",
                             "/assets//index-B3xk9aQz.js", "/assets/./index-B3xk9aQz.js", "/assets/",
                             "/assets/..%5cindex.html", "/assets/link-AAAAAAAA.txt", "/assets/%00",
                             "/assets/nope.js"}) {
    INFO(target);
    auto res = get(r, target);
    CHECK(res.result() == status::not_found);
    CHECK(res[field::content_type] == "application/problem+json");
    CHECK(res.body().find("outside the root") == std::string::npos);
  }
  // Loaded: the app's files, not the dot file, not the symlink out of the folder.
  CHECK((*files)->size() == 8);
  CHECK((*files)->find(".env") == nullptr);
  CHECK((*files)->find("assets/link-AAAAAAAA.txt") == nullptr);
  CHECK((*files)->find("/etc/passwd") == nullptr);
  CHECK((*files)->find("assets/index-B3xk9aQz.js") != nullptr);
}

TEST_CASE("static files: content types and hashed names", "[static]") {
  using S = server::StaticFiles;
  CHECK(S::content_type_of("a.mjs") == "text/javascript; charset=utf-8");
  CHECK(S::content_type_of("a.woff2") == "font/woff2");
  CHECK(S::content_type_of("a.png") == "image/png");
  CHECK(S::content_type_of("a.webmanifest") == "application/manifest+json");
  CHECK(S::content_type_of("README") == "application/octet-stream");
  CHECK(S::is_hashed_name("assets/index-B3xk9aQz.js"));
  CHECK(S::is_hashed_name("assets/uPlot.min-CZ3_0-aB.css"));
  CHECK_FALSE(S::is_hashed_name("assets/index.js"));
  CHECK_FALSE(S::is_hashed_name("assets/logo.svg"));
  CHECK_FALSE(S::is_hashed_name("index-short.js"));
}

TEST_CASE("static files: a missing folder, limits, and the empty set", "[static]") {
  App app;
  auto missing = server::StaticFiles::load(app.dir.path() / "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == core::Errc::not_found);
  server::StaticFiles::Limits small;
  small.max_files = 2;
  CHECK_FALSE(server::StaticFiles::load(app.root, small));
  small = {};
  small.max_total_bytes = 10;
  CHECK_FALSE(server::StaticFiles::load(app.root, small));

  auto r = router_for(server::StaticFiles::empty("The web app is not built."));
  auto res = get(r, "/");
  CHECK(res.result() == status::not_found);
  CHECK(res.body().find("The web app is not built.") != std::string::npos);
}
