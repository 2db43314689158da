#include "tls.hpp"

#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

namespace careloop::server {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" list: ECDHE key exchange (forward secrecy) with
// AES-GCM or ChaCha20-Poly1305. TLS 1.3 suites are OpenSSL's defaults, all AEAD.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace

core::Result<TlsContext> load_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1)
    return core::Error::internal("TLS: this OpenSSL offers none of the TLS 1.2 ciphers asked for");

  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) return core::Error::invalid("TLS: cannot load the certificate chain '" + cert_file + "': " + ec.message());
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  const bool mismatch = ec && ec.category() == boost::asio::error::get_ssl_category() &&
                        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (mismatch || (!ec && SSL_CTX_check_private_key(native) != 1))
    return core::Error::invalid("TLS: the private key '" + key_file + "' does not belong to the certificate '" +
                                cert_file + "'");
  if (ec) return core::Error::invalid("TLS: cannot load the private key '" + key_file + "': " + ec.message());
  return context;
}

bool readable_by_others(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
}

}  // namespace careloop::server
