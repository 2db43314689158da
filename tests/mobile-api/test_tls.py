#!/usr/bin/env python3
"""HTTPS end to end (issue 15, item 6): `careloop serve --tls-cert --tls-key`
on a demo county, reached by Python's ssl module trusting only a certificate
made for the test:

- a patient logs in and reads over HTTPS; every answer carries HSTS;
- plain HTTP to the port gets no HTTP answer; a TLS 1.1 client is refused;
- after the files are replaced and SIGHUP sent, new connections see the new
  certificate while the server goes on serving.

usage: test_tls.py CARELOOP_BINARY
"""
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from careloop_server import Server, check, demo_db, summary  # noqa: E402

def make_certificate(cert, key):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)


def trusting(cert):
    return ssl.create_default_context(cafile=cert)


def peer_certificate(port, cert):
    """The DER certificate a new connection is shown, verified against `cert`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with trusting(cert).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def der_of(cert):
    with open(cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def main(binary):
    with tempfile.TemporaryDirectory(prefix="careloop-tls-") as work:
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        make_certificate(cert, key)
        db = demo_db(binary, work, patients=12, clinics=2, days=2)
        with Server(binary, db, ["--tls-cert", cert, "--tls-key", key], tls=trusting(cert)) as srv:
            check(any("on https://" in line for line in srv.log), "the serving line says https://")

            login = srv.call("POST", "/api/v1/auth/login", body={"username": "patient01", "password": "demo-patient"})
            check(login.status == 200, "a patient logs in over HTTPS", login)
            check(login.headers.get("strict-transport-security") == "max-age=31536000", "the answer carries HSTS",
                  login.headers)
            token = login.json()["token"]
            readings = srv.call("GET", "/api/v1/me/readings", token=token)
            check(readings.status == 200, "and reads their readings", readings)

            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as plain:
                plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                got = b""
                try:
                    while chunk := plain.recv(4096):
                        got += chunk
                except (ConnectionResetError, socket.timeout):
                    pass
            check(not got.startswith(b"HTTP/"), "plain HTTP gets no HTTP answer", got[:80])

            old = trusting(cert)
            old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
                    with old.wrap_socket(raw, server_hostname="127.0.0.1"):
                        refused = False
            except (ssl.SSLError, ConnectionResetError):
                refused = True
            check(refused, "a TLS 1.1 client is refused")

            first = peer_certificate(srv.port, cert)
            check(first == der_of(cert), "the certificate served is the one in the file")
            os.replace(cert, cert + ".old")
            make_certificate(cert, key)
            srv.proc.send_signal(signal.SIGHUP)
            seen = None
            for _ in range(100):
                try:
                    seen = peer_certificate(srv.port, cert)
                    break
                except ssl.SSLError:
                    time.sleep(0.05)
            check(seen == der_of(cert) and seen != first, "after SIGHUP a new connection sees the new certificate")
            check(srv.proc.poll() is None, "the server kept running")
            srv.tls = trusting(cert)
            again = srv.call("GET", "/api/v1/me/readings", token=token)
            check(again.status == 200, "and goes on answering", again)

    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
