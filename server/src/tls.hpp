#pragma once
// HTTPS: the TLS context connections are made with (server.cpp keeps the
// current one and swaps it on reload; each connection holds its own).
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

#include "careloop/core/result.hpp"

namespace careloop::server {

using TlsContext = std::shared_ptr<boost::asio::ssl::context>;

// TLS 1.2 and 1.3 only, forward-secret AEAD ciphers under 1.2, the
// certificate chain and its private key from PEM files. An error names the
// file and what is wrong with it.
core::Result<TlsContext> load_tls_context(const std::string& cert_file, const std::string& key_file);

// True when users other than the file's owner may read it (a private key should not be).
bool readable_by_others(const std::string& path);

}  // namespace careloop::server
