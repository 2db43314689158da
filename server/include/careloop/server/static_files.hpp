#pragma once
// Static files (the built web app) served from memory.
//
// The whole folder is read once, at start, on the thread that loads it: a
// request never touches the file system, so no I/O thread ever blocks on a
// disk read, and a path in a request can only name a file that was loaded —
// "..", absolute paths and symlinks out of the folder lead nowhere.
//
// Caching: a file whose name carries a content hash (Vite's
// "index-B3xk9aQz.js") never changes under that name and is `immutable` for a
// year; everything else (the HTML entry points) is `no-cache` with an ETag,
// so a new build is picked up on the next load. Every answer carries
// `X-Content-Type-Options: nosniff`; HTML answers carry the Content-Security-
// Policy, which forbids inline scripts and styles and framing, and so does a
// service worker's script (`worker`).
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "careloop/core/result.hpp"
#include "careloop/server/router.hpp"

namespace careloop::server {

inline constexpr std::string_view default_content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct StaticFile {
  std::string body;
  std::string content_type;
  std::string etag;      // quoted strong validator of the content
  bool hashed = false;   // the name carries a content hash: cache for a year
};

class StaticFiles {
 public:
  struct Limits {
    std::size_t max_files = 2000;
    std::size_t max_total_bytes = 64u << 20;
  };

  // Reads every regular file under `root` (dot files and symlinks skipped).
  // Errors: not_found when `root` is not a folder; invalid past a limit.
  static core::Result<std::shared_ptr<const StaticFiles>> load(const std::filesystem::path& root, Limits limits);
  static core::Result<std::shared_ptr<const StaticFiles>> load(const std::filesystem::path& root) {
    return load(root, Limits{});
  }
  // No files: every request is answered 404 with `why_empty` as the detail.
  static std::shared_ptr<const StaticFiles> empty(std::string why_empty);

  // The file at a '/'-separated path relative to the root; nullptr when there
  // is none or the path is not a plain relative path (.., empty segments, '\').
  const StaticFile* find(std::string_view relative) const;
  std::size_t size() const noexcept { return files_.size(); }
  std::size_t total_bytes() const noexcept { return total_bytes_; }

  // The answer to a GET/HEAD for `relative`: 200 with the caching and
  // security headers, 304 when If-None-Match names the current ETag, or a
  // 404 problem.
  Response respond(const Request& request, std::string_view relative) const;

  // Handlers: always the same file (an entry point of a single-page app), or
  // the file the route's {*name} wildcard names.
  static Handler file(std::shared_ptr<const StaticFiles> files, std::string relative);
  static Handler tree(std::shared_ptr<const StaticFiles> files, std::string prefix, std::string wildcard);
  // A service worker's script: the file's answer (never immutable, as its name
  // carries no hash, so the browser sees a new build on its update check) with
  // the Content-Security-Policy, which a worker takes from its own script's
  // answer, not from the page's.
  static Handler worker(std::shared_ptr<const StaticFiles> files, std::string relative);

  // By extension; application/octet-stream when unknown.
  static std::string_view content_type_of(std::string_view name) noexcept;
  // True for names like "index-B3xk9aQz.js": a '-' or '.' then 8+ [A-Za-z0-9_] before the extension.
  static bool is_hashed_name(std::string_view name) noexcept;

 private:
  std::map<std::string, StaticFile, std::less<>> files_;
  std::size_t total_bytes_ = 0;
  std::string why_empty_;
};

}  // namespace careloop::server
