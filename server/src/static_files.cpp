#include "careloop/server/static_files.hpp"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

namespace careloop::server {

namespace {

namespace fs = std::filesystem;

std::string content_etag(std::string_view body) {
  // FNV-1a 64 of the content: equal content, equal tag, whatever the file's date.
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[24];
  std::snprintf(out, sizeof out, "\"%016llx\"", static_cast<unsigned long long>(h));
  return out;
}

bool hash_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// A relative path a request may name: segments of visible characters, none
// empty, "." or "..", no backslash or NUL. Anything else names no file.
bool plain_relative(std::string_view p) {
  if (p.empty() || p.size() > 1024) return false;
  std::size_t start = 0;
  for (;;) {
    const auto slash = p.find('/', start);
    const auto seg = p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg == "." || seg == ".." || seg.front() == '.') return false;
    for (unsigned char c : seg)
      if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

std::string_view StaticFiles::content_type_of(std::string_view name) noexcept {
  const auto dot = name.rfind('.');
  const auto ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "webmanifest") return "application/manifest+json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "ico") return "image/x-icon";
  if (ext == "webp") return "image/webp";
  if (ext == "woff2") return "font/woff2";
  if (ext == "woff") return "font/woff";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

bool StaticFiles::is_hashed_name(std::string_view name) noexcept {
  const auto slash = name.rfind('/');
  const auto base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const auto dot = base.rfind('.');
  if (dot == std::string_view::npos) return false;
  const auto stem = base.substr(0, dot);
  constexpr std::size_t hash_len = 8;
  if (stem.size() < hash_len + 2) return false;
  const char sep = stem[stem.size() - hash_len - 1];
  if (sep != '-' && sep != '.') return false;
  for (char c : stem.substr(stem.size() - hash_len))
    if (!hash_char(c)) return false;
  return true;
}

core::Result<std::shared_ptr<const StaticFiles>> StaticFiles::load(const fs::path& root, Limits limits) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    return core::Error::not_found("no web app folder at " + root.string());
  auto out = std::make_shared<StaticFiles>();
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return core::Error::unavailable("cannot read " + root.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return core::Error::unavailable("cannot read " + root.string() + ": " + ec.message());
    const auto& entry = *it;
    const auto name = entry.path().filename().string();
    // Dot files (.gitignore, .vite/) are not part of the app; symlinks could lead out of the folder.
    if (!name.empty() && name.front() == '.') {
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    const auto relative = entry.path().lexically_relative(root).generic_string();
    if (!plain_relative(relative)) continue;
    if (out->files_.size() >= limits.max_files)
      return core::Error::invalid(root.string() + " holds more than " + std::to_string(limits.max_files) +
                                                  " files");
    std::ifstream in(entry.path(), std::ios::binary);
    std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in.good() && !in.eof())
      return core::Error::unavailable("cannot read " + entry.path().string());
    out->total_bytes_ += body.size();
    if (out->total_bytes_ > limits.max_total_bytes)
      return core::Error::invalid(root.string() + " holds more than " +
                                                  std::to_string(limits.max_total_bytes) + " bytes");
    StaticFile f;
    f.content_type = std::string(content_type_of(relative));
    f.etag = content_etag(body);
    // Only the build's assets folder holds content-hashed names (web/vite.config.ts).
    f.hashed = relative.starts_with("assets/") && is_hashed_name(relative);
    f.body = std::move(body);
    out->files_.emplace(relative, std::move(f));
  }
  return std::shared_ptr<const StaticFiles>(std::move(out));
}

std::shared_ptr<const StaticFiles> StaticFiles::empty(std::string why_empty) {
  auto out = std::make_shared<StaticFiles>();
  out->why_empty_ = std::move(why_empty);
  return out;
}

const StaticFile* StaticFiles::find(std::string_view relative) const {
  if (!plain_relative(relative)) return nullptr;
  auto it = files_.find(relative);
  return it == files_.end() ? nullptr : &it->second;
}

Response StaticFiles::respond(const Request& request, std::string_view relative) const {
  const StaticFile* f = find(relative);
  if (!f) {
    auto res = problem_response(http::status::not_found, "Not Found",
                                files_.empty() && !why_empty_.empty() ? why_empty_ : "No such file.");
    res.set("X-Content-Type-Options", "nosniff");
    return res;
  }
  const bool html = f->content_type.starts_with("text/html");
  Response res{http::status::ok, request.version()};
  res.set(http::field::content_type, f->content_type);
  res.set(http::field::etag, f->etag);
  res.set(http::field::cache_control, f->hashed ? "public, max-age=31536000, immutable" : "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  if (html) {
    res.set("Content-Security-Policy", default_content_security_policy);
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
  }
  const auto inm = request[http::field::if_none_match];
  // "*" or a list that holds this tag (weak comparison, as RFC 9110 asks for If-None-Match).
  if (!inm.empty() && (inm == "*" || inm.find(f->etag) != std::string_view::npos)) {
    res.result(http::status::not_modified);
    res.content_length(boost::none);
    return res;
  }
  res.body() = f->body;
  res.prepare_payload();
  return res;
}

Handler StaticFiles::file(std::shared_ptr<const StaticFiles> files, std::string relative) {
  return [files = std::move(files), relative = std::move(relative)](RequestContext& ctx) -> asio::awaitable<Response> {
    co_return files->respond(ctx.request, relative);
  };
}

Handler StaticFiles::worker(std::shared_ptr<const StaticFiles> files, std::string relative) {
  return [files = std::move(files), relative = std::move(relative)](RequestContext& ctx) -> asio::awaitable<Response> {
    auto res = files->respond(ctx.request, relative);
    if (res.result() == http::status::ok || res.result() == http::status::not_modified)
      res.set("Content-Security-Policy", default_content_security_policy);
    co_return res;
  };
}

Handler StaticFiles::tree(std::shared_ptr<const StaticFiles> files, std::string prefix, std::string wildcard) {
  return [files = std::move(files), prefix = std::move(prefix),
          wildcard = std::move(wildcard)](RequestContext& ctx) -> asio::awaitable<Response> {
    const auto rest = ctx.param(wildcard);
    // "/assets/" alone names no file (and no folder listing is offered).
    if (rest.empty()) co_return files->respond(ctx.request, "");
    co_return files->respond(ctx.request, prefix + std::string(rest));
  };
}

}  // namespace careloop::server
